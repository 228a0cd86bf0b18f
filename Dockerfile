# Builds every executable once; compose.yaml runs one per service from this image.
ARG SWIFT_VERSION=6.3
FROM swift:${SWIFT_VERSION}-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libprotobuf-c-dev libssl-dev libsqlite3-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Shared Shared
COPY Services Services
COPY Benchmarks Benchmarks
COPY Proto Proto
COPY Tests Tests
RUN swift build -c release --static-swift-stdlib \
    --product registry --product settlement --product supervision --product gateway --product medicare --product medicare-certs \
 && mkdir /out && for p in registry settlement supervision gateway medicare medicare-certs; do cp .build/release/$p /out/; done \
 && cp -r .build/release/*.resources /out/ 2>/dev/null || true

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libprotobuf-c1 libssl3 libsqlite3-0 ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/medicare medicare && mkdir -p /var/lib/medicare && chown medicare /var/lib/medicare
COPY --from=build /out/ /usr/local/bin/
USER medicare
WORKDIR /var/lib/medicare
EXPOSE 7100 7101 7102 7103 9100 9101 9102 9103
