#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from the Go module proxy into $KUBELECT_BIN
# (default ~/.cache/kubelect/bin), and the oldest kube-apiserver kubelect
# claims (module ./apiserver134) into $KUBELECT_BIN/v1.34, which the harness
# starts when KUBELECT_APISERVER=v1.34. The flags never change, so Go's build
# cache makes a rebuild take seconds; the binaries are rebuilt only when
# go.sum or a main file is newer than them.
set -euo pipefail
cd "$(dirname "$0")"
bin="${KUBELECT_BIN:-$HOME/.cache/kubelect/bin}"
mkdir -p "$bin"
version=v1.37.2
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
for cmd in etcd kube-apiserver kubectl; do
  out="$bin/$cmd"
  if [ -x "$out" ] && [ "$out" -nt go.sum ] && [ "$out" -nt "cmd/$cmd/main.go" ]; then
    echo "build.sh: $cmd is up to date"
    continue
  fi
  start=$(date +%s)
  go build -ldflags "$ldflags" -o "$out.tmp" "./cmd/$cmd"
  mv "$out.tmp" "$out"
  echo "build.sh: built $cmd in $(( $(date +%s) - start ))s"
done
# kube-apiserver v1.34: the oldest minor kubelect claims, the last before
# resourceVersions became comparable (1.35, KEP-5504). Its own module, since
# its k8s.io/* staging modules are v0.34; it uses the etcd built above.
old_version=v1.34.12
old_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$old_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"
out="$bin/v1.34/kube-apiserver"
if [ -x "$out" ] && [ "$out" -nt apiserver134/go.sum ] && [ "$out" -nt apiserver134/cmd/kube-apiserver/main.go ]; then
  echo "build.sh: kube-apiserver $old_version is up to date"
else
  mkdir -p "$bin/v1.34"
  start=$(date +%s)
  (cd apiserver134 && go build -ldflags "$old_ldflags" -o "$out.tmp" ./cmd/kube-apiserver)
  mv "$out.tmp" "$out"
  echo "build.sh: built kube-apiserver $old_version in $(( $(date +%s) - start ))s"
fi
