#!/bin/sh
# The placeholder job of deploy/wrapper: "kubelect run" starts it when its
# replica leads and stops it (SIGTERM, then SIGKILL after --kill-after) when
# the leadership ends. Replace it with your own; it must stop soon after
# SIGTERM, and may put $KUBELECT_TERM (the fencing token) on its writes.
trap 'echo "job: SIGTERM: stopping (term $KUBELECT_TERM)"; exit 0' TERM INT
echo "job: started as $KUBELECT_IDENTITY on $KUBELECT_LOCK, term $KUBELECT_TERM"
while :; do
  echo "job: working (term $KUBELECT_TERM)"
  # In the background, so that the trap runs at once on SIGTERM.
  sleep 5 &
  wait $!
done
