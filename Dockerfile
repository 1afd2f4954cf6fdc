# syntax=docker/dockerfile:1

# receiptd image: a static binary on distroless, running as non-root.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t receiptd .
#   docker run --rm receiptd version
#
# VERSION and REVISION end up in `receiptd version`, in the start-up log line,
# in the receiptd_build_info metric and in the image's OCI labels.
#
# The image holds no configuration and no secret. Mount config.yaml at
# /etc/receiptd/config.yaml (or override CMD with just "run" and configure
# everything through RECEIPTD_* variables), and give the ZIM ServerSecret and
# the Kafka SASL password as RECEIPTD_ZIM_SERVER_SECRET /
# RECEIPTD_KAFKA_SASL_PASSWORD or as mounted files (zim.server_secret_file,
# kafka.sasl.password_file).

ARG GO_VERSION=1.26

# Build on the builder's own platform and cross-compile: no emulation needed
# for multi-platform images.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src

# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG VERSION=dev
ARG REVISION=
ARG TARGETOS
ARG TARGETARCH
# The production build (-tags receiptd_prod) has run, check, dlq, zimfake and
# version, and leaves out demo and bench with the in-process Kafka, the
# traffic generator and the benchmark harness they link: 13.8 MB instead of
# 19.5 MB. cmd/receiptd's TestProductionBuild runs this go build and proves it.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -tags receiptd_prod -ldflags="-s -w \
      -X github.com/receiptd/receiptd/internal/buildinfo.version=${VERSION} \
      -X github.com/receiptd/receiptd/internal/buildinfo.revision=${REVISION}" \
      -o /out/receiptd ./cmd/receiptd

# static-debian12 has CA certificates and tzdata, which the HTTPS calls to
# ZIM and TLS to Kafka need, and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=
ARG SOURCE=https://github.com/receiptd/receiptd
LABEL org.opencontainers.image.title="receiptd" \
      org.opencontainers.image.description="Sets ZEGOCLOUD ZIM read receipts from Kafka events" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
COPY --from=build /out/receiptd /receiptd
# nonroot is uid/gid 65532 in distroless; the Kubernetes manifests use the
# same numbers for runAsUser and fsGroup.
USER nonroot:nonroot
# /metrics, /healthz and /readyz (http.listen).
EXPOSE 8080
ENTRYPOINT ["/receiptd"]
CMD ["run", "--config", "/etc/receiptd/config.yaml"]
