# Builds every executable once; compose.yaml runs one per service from this image.
ARG SWIFT_VERSION=6.3
FROM swift:${SWIFT_VERSION}-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libprotobuf-c-dev libssl-dev libsqlite3-dev libgoogle-perftools-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Shared Shared
COPY Services Services
COPY Benchmarks Benchmarks
COPY Proto Proto
COPY Tests Tests
RUN swift build -c release --static-swift-stdlib \
    --product registry --product settlement --product supervision --product gateway --product console --product medicare --product medicare-certs \
 && mkdir /out && for p in registry settlement supervision gateway console medicare medicare-certs; do cp .build/release/$p /out/; done \
 && ls -d .build/release/*.resources >/dev/null \
 && cp -r .build/release/*.resources /out/

FROM debian:bookworm-slim
# A fixed, non-root UID/GID (10001): mounted certificates and keys must be readable by it
# (for example `chgrp -R 10001 certs && chmod 0640 certs/*.key`); curl is for the health checks.
RUN apt-get update && apt-get install -y --no-install-recommends libprotobuf-c1 libssl3 libsqlite3-0 libtcmalloc-minimal4 ca-certificates curl && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 medicare \
 && useradd --system --uid 10001 --gid 10001 --home /var/lib/medicare medicare && mkdir -p /var/lib/medicare && chown 10001:10001 /var/lib/medicare
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
WORKDIR /var/lib/medicare
EXPOSE 7100 7101 7102 7103 7180 7190 9100 9101 9102 9103
