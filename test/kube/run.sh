#!/usr/bin/env bash
# The real-API tier: builds kube-apiserver and etcd from the Go module proxy
# (cached), then runs, against them on 127.0.0.1, the tests of this module
# (with client-go v0.37.2 interop) and of ../interop023 (client-go v0.23.17
# on the Endpoints and ConfigMap locks), then the CI-sized chaos campaign,
# then ./realapi again against kube-apiserver v1.34 (KUBELECT_APISERVER).
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)
./build.sh
echo "run.sh: binaries ready in $(( $(date +%s) - start ))s"
export KUBELECT_REAL_API=1
for dir in . harness ../interop023; do
  (cd "$dir" && go vet ./... && go test -race -count=1 -timeout 20m ./...)
done
# A short run of the side-by-side benchmark, so that it cannot rot; the
# full run is: go run ./cmd/leaderbench -out DIR  (writes DIR/BENCHMARKS.md, whose first
# part goes into ../../BENCHMARKS.md)
go run ./cmd/leaderbench -smoke > /dev/null
# Smoke runs of the scale measurements (BENCHMARKS.md has the full ones):
# the trade-off curve and cold start, herds of 3 and 10, and 1 and 10
# elections sharing one client. Full runs:
#   go run ./cmd/leaderbench -curve -coldstart -out DIR   (writes DIR/tradeoff.svg)
#   go run ./cmd/herdbench -out FILE
#   go run ./cmd/manylocks
go run ./cmd/leaderbench -curve -coldstart -smoke > /dev/null
go run ./cmd/herdbench -smoke > /dev/null
go run ./cmd/manylocks -smoke > /dev/null
# What kubelect adds to the resident memory of the bare floor (stripped static
# builds); the real run: go run ./cmd/memfloor -rounds 5
go run ./cmd/memfloor -rounds 1 -settle 5s > /dev/null
# The chaos campaign, CI-sized (one round of each fault for kubelect, two
# for client-go, candidates as processes behind fault proxies): kubelect's
# invariants are asserted, client-go's figures reported. The full campaign:
#   go run ./cmd/chaoscampaign -rounds 3 -out ../../chaos-real.md
chaos_start=$(date +%s)
KUBELECT_CHAOS=1 go test -count=1 -timeout 20m -run TestCampaign -v ./chaos
echo "run.sh: chaos campaign (CI-sized) done in $(( $(date +%s) - chaos_start ))s"
# The oldest minor kubelect claims, kube-apiserver v1.34 (build.sh puts it in
# $KUBELECT_BIN/v1.34; same etcd), the last before 1.35 made resourceVersions
# comparable (KEP-5504): old_pkgs run against it too (add packages here).
old_pkgs="./realapi ./fencing"
old_start=$(date +%s)
# shellcheck disable=SC2086 # old_pkgs is a list
KUBELECT_APISERVER=v1.34 go test -race -count=1 -timeout 20m $old_pkgs
echo "run.sh: kube-apiserver v1.34 ($old_pkgs) done in $(( $(date +%s) - old_start ))s"
echo "run.sh: real API tier done in $(( $(date +%s) - start ))s"
