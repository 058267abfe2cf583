#!/bin/sh
# The placeholder job of deploy/wrapper: "kubelect run" starts it when its
# replica leads and stops it (SIGTERM, then SIGKILL after --kill-after) when
# the leadership ends. Replace it with your own; it must stop soon after
# SIGTERM, and may put $KUBELECT_FENCING_TOKEN on its writes, for a store that
# refuses tokens lower than the highest it has seen.
trap 'echo "job: SIGTERM: stopping (term $KUBELECT_TERM)"; exit 0' TERM INT
echo "job: started as $KUBELECT_IDENTITY on $KUBELECT_LOCK, term $KUBELECT_TERM, fencing token ${KUBELECT_FENCING_TOKEN:-none}"
while :; do
  echo "job: working (term $KUBELECT_TERM)"
  # In the background, so that the trap runs at once on SIGTERM.
  sleep 5 &
  wait $!
done
