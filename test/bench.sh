#!/usr/bin/env bash
# Runs the library's micro-benchmarks repeatedly and reports them through
# benchstat (golang.org/x/perf, the version pinned in test/tools/go.mod):
# for each benchmark the median of the runs, with the spread of the runs
# around it (±, a 95% confidence interval) for time, bytes, allocations
# and the custom metrics (heap-growth-B).
#
#   test/bench.sh                      run (-count 10) and summarize; the raw
#                                      results go to bench-<commit>.txt in $BENCH_OUT
#                                      (default: a new temporary directory)
#   test/bench.sh -compare OLD NEW     compare two files of results (old → new,
#                                      with the change and its p-value)
#   test/bench.sh -commits REV1 REV2   run both commits' benchmarks (each from a
#                                      git archive of it, the work tree untouched),
#                                      one run of each in turn, and compare them
#   test/bench.sh -smoke ...           -count 2 and 100 iterations per run, for CI:
#                                      keeps the benchmarks and the tooling working,
#                                      says nothing about speed
#
# BENCH_PKGS overrides the packages (default: ./election/resourcelock/ ./k8sapi/...),
# BENCH_COUNT the number of runs, BENCH_TIME the -benchtime of each run.
# The machine should be otherwise idle: time figures move with load;
# allocations and bytes do not.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
count=${BENCH_COUNT:-10}
benchtime=${BENCH_TIME:-1s}
pkgs=${BENCH_PKGS:-./election/resourcelock/ ./k8sapi/...}

if [ "${1:-}" = "-smoke" ]; then
  shift
  count=${BENCH_COUNT:-2}
  benchtime=${BENCH_TIME:-100x}
fi

benchstat() {
  # From the tools module, so that its go.mod pins the version; the
  # arguments are absolute paths.
  (cd "$root/test/tools" && go run golang.org/x/perf/cmd/benchstat "$@")
}

abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }

# run DIR OUT: the benchmarks of the checkout at DIR, into OUT.
run() {
  echo "bench.sh: go test -run '^\$' -bench . -benchmem -count $count -benchtime $benchtime $pkgs (in $1)" >&2
  # shellcheck disable=SC2086 # pkgs is a list
  (cd "$1" && go test -run '^$' -bench . -benchmem -count "$count" -benchtime "$benchtime" $pkgs) >"$2"
}

# outdir: where the raw results go.
outdir() {
  local d=${BENCH_OUT:-}
  if [ -z "$d" ]; then
    d=$(mktemp -d)
  fi
  mkdir -p "$d"
  (cd "$d" && pwd)
}

case "${1:-}" in
-compare)
  [ $# -eq 3 ] || { echo "usage: $0 -compare OLD NEW" >&2; exit 2; }
  benchstat "old=$(abs "$2")" "new=$(abs "$3")"
  ;;
-commits)
  [ $# -eq 3 ] || { echo "usage: $0 -commits REV1 REV2" >&2; exit 2; }
  out=$(outdir)
  # Each commit's test binaries are built once, then run one -count at a
  # time, the two commits taking turns: a change of the machine's load
  # during the run then falls on both alike.
  files=() trees=() commits=()
  for rev in "$2" "$3"; do
    commit=$(git -C "$root" rev-parse --short "$rev^{commit}")
    tree=$(mktemp -d)
    git -C "$root" archive "$commit" | tar -x -C "$tree"
    # shellcheck disable=SC2086 # pkgs is a list
    for dir in $(cd "$tree" && go list -f '{{if .TestGoFiles}}{{.Dir}}{{end}}' $pkgs); do
      (cd "$dir" && go test -c -o bench.test .)
    done
    : >"$out/bench-$commit.txt"
    trees+=("$tree") commits+=("$commit")
    files+=("$commit=$out/bench-$commit.txt")
  done
  echo "bench.sh: -count $count -benchtime $benchtime of $pkgs, $2 and $3 taking turns" >&2
  for ((i = 0; i < count; i++)); do
    for j in 0 1; do
      for bin in $(find "${trees[$j]}" -name bench.test | sort); do
        (cd "$(dirname "$bin")" && ./bench.test -test.run '^$' -test.bench . -test.benchmem -test.count 1 -test.benchtime "$benchtime") >>"$out/bench-${commits[$j]}.txt"
      done
    done
  done
  rm -rf "${trees[@]}"
  echo "bench.sh: results in $out" >&2
  benchstat "${files[@]}"
  ;;
"")
  commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo worktree)
  if [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]; then
    commit="$commit-dirty"
  fi
  out=$(outdir)
  run "$root" "$out/bench-$commit.txt"
  echo "bench.sh: results in $out/bench-$commit.txt" >&2
  benchstat "$commit=$out/bench-$commit.txt"
  ;;
*)
  echo "usage: $0 [-smoke] [-compare OLD NEW | -commits REV1 REV2]" >&2
  exit 2
  ;;
esac
