#!/usr/bin/env bash
# The real-API tier: builds kube-apiserver and etcd from the Go module proxy
# (cached), then runs the tests of this module against them on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)
./build.sh
echo "run.sh: binaries ready in $(( $(date +%s) - start ))s"
go vet ./...
KUBELECT_REAL_API=1 go test -race -count=1 -timeout 20m ./...
