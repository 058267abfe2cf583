#!/usr/bin/env bash
# Builds a program of this repository as the Dockerfile does (the Dockerfile
# runs this very script): a static Linux binary, without cgo, with no file
# system paths (-trimpath) and no symbol or debug tables (-s -w), and no
# VCS stamp (-buildvcs=false: the image's build context has no .git), so
# that the same Go version and GOARCH give the same bytes here and there.
#
#   deploy/build-static.sh OUT [kubelect|controller]
#
# kubelect (the default) is cmd/kubelect; controller is examples/controller.
# VERSION, when set, is what "kubelect version" prints (-X
# main.buildVersion). GOARCH defaults to the Go toolchain's; GOOS is linux.
# Check the result with: go run ./deploy/checkstatic OUT
set -euo pipefail
out=${1:?usage: deploy/build-static.sh OUT [kubelect|controller]}
program=${2:-kubelect}
root=$(cd "$(dirname "$0")/.." && pwd)
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

ldflags="-s -w"
case "$program" in
  kubelect)
    dir="$root/cmd/kubelect"
    if [ -n "${VERSION:-}" ]; then ldflags="$ldflags -X main.buildVersion=$VERSION"; fi
    ;;
  controller)
    dir="$root/examples/controller"
    ;;
  *)
    echo "build-static.sh: unknown program $program (kubelect or controller)" >&2
    exit 2
    ;;
esac

# GOFLAGS from the caller's environment (-mod=vendor, -race, ...) would
# change the binary: the flags are all here.
cd "$dir"
GOFLAGS= CGO_ENABLED=0 GOOS=linux GOARCH="${GOARCH:-$(go env GOARCH)}" \
  go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out" .
