# syntax=docker/dockerfile:1
#
# The kubelect image: a static kubelect (cmd/kubelect) on distroless static,
# run as the non-root user 65532. Nothing publishes it: build and push it
# yourself, under the name the manifests in deploy/ use or your own:
#
#   docker build -t ghcr.io/kubelect/kubelect:v0.1.0 .
#   docker build --target controller -t ghcr.io/kubelect/controller-example:v0.1.0 .
#
# Multi-platform: docker buildx build --platform linux/amd64,linux/arm64 ...
# The binaries come from deploy/build-static.sh, which builds the same bytes
# outside Docker with the same Go version (checked by deploy/checkstatic).

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS source
WORKDIR /src
COPY . .

# The module and build caches are cache mounts: "go mod download" cannot
# prefetch cmd/kubelect's modules on their own (it asks the proxy for the
# untagged github.com/kubelect/kubelect version that go.mod requires, which
# only cmd/kubelect/go.work stands in for), and the build downloads what it
# needs anyway.
FROM source AS build-kubelect
ARG TARGETARCH
ARG VERSION=v0.1.0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOARCH=$TARGETARCH VERSION=$VERSION deploy/build-static.sh /out/kubelect kubelect

FROM source AS build-controller
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOARCH=$TARGETARCH deploy/build-static.sh /out/controller controller

# The Go program of deploy/go-program (examples/controller).
FROM gcr.io/distroless/static-debian12:nonroot AS controller
COPY --from=build-controller /out/controller /usr/local/bin/controller
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/controller"]

# The default target, last: kubelect.
FROM gcr.io/distroless/static-debian12:nonroot AS kubelect
COPY --from=build-kubelect /out/kubelect /usr/local/bin/kubelect
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kubelect"]
