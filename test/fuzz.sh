#!/usr/bin/env bash
# Runs every fuzz target of the library module for N seconds each:
#
#   test/fuzz.sh [seconds]     (default 10)
#
# Targets are found with "go test -list '^Fuzz'" in every package of the
# module, so a new FuzzXxx runs without touching this script. Plain
# "go test" already runs each target's seed corpus (f.Add and
# testdata/fuzz/FuzzXxx/); this script searches beyond it, one target at a
# time (go test -fuzz takes one target per run).
#
# On a failure, go test writes the input to
# <package>/testdata/fuzz/<FuzzXxx>/<hash>; the script keeps going, then
# lists each failure with the command that replays it and exits 1. Commit
# the input with the fix: it then runs with every "go test".
#
# Extra flags for go test, such as -parallel=1 on a busy machine, go in
# FUZZ_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."

# N is seconds per target; Nx is N inputs per target. CI uses Nx: a
# time-bounded run of a few seconds can end with a spurious "context
# deadline exceeded" from go test's fuzzing coordinator.
secs=${1:-10}
case $secs in
'' | *[!0-9x]* | *x*x* | x*)
  echo "usage: $0 [seconds per target | Nx inputs per target]" >&2
  exit 2
  ;;
esac
fuzztime=${secs}s
case $secs in *x) fuzztime=$secs ;; esac
read -r -a extra <<<"${FUZZ_FLAGS:-}"

failures=()
count=0
start=$SECONDS
for pkg in $(go list ./...); do
  # Only packages with a fuzz target are compiled for -list.
  dir=$(go list -f '{{.Dir}}' "$pkg")
  if ! grep -qs '^func Fuzz' "$dir"/*_test.go; then
    continue
  fi
  targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
  for target in $targets; do
    count=$((count + 1))
    echo "== $pkg $target ($fuzztime)"
    log=$(mktemp)
    if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" ${extra[@]+"${extra[@]}"} "$pkg" 2>&1 | tee "$log"; then
      rm -f "$log"
      continue
    fi
    # "Failing input written to testdata/fuzz/FuzzXxx/<hash>"
    input=$(sed -n 's/.*Failing input written to \(testdata\/fuzz\/[^ ]*\).*/\1/p' "$log" | tail -n 1)
    rm -f "$log"
    if [ -n "$input" ]; then
      failures+=("$pkg $target: input $dir/$input
    replay: go test -run '^${target}/${input##*/}\$' $pkg")
    else
      failures+=("$pkg $target: go test failed before fuzzing (see the output above)
    replay: go test -run '^${target}\$' $pkg")
    fi
  done
done

echo "== $count fuzz targets, $fuzztime each, in $((SECONDS - start))s"
if [ "$count" -eq 0 ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi
if [ ${#failures[@]} -gt 0 ]; then
  echo "== ${#failures[@]} failed:" >&2
  printf '%s\n' "${failures[@]}" >&2
  exit 1
fi
