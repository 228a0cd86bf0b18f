#!/usr/bin/env bash
# Installs what building, running and testing need on a fresh Debian or Ubuntu machine, and
# nothing when it is all there already: protobuf-c and protoc (code generation and the
# C codec), OpenSSL and SQLite headers, TCMalloc (the servers' allocator), PostgreSQL (the tests' second engine), and Python's
# protobuf, cryptography, jsonschema, pyyaml and openapi-spec-validator (interop tests, the
# compose check, the cases, the OpenAPI check, clients/python, the console's browser driver),
# curl (the bridge's tests), Chromium with CJK fonts (the console's tests and screenshots),
# and Prometheus's promtool (the metrics, rules and configuration checks).
# Swift itself is expected on PATH or at /opt/swift/usr/bin.
#
#   scripts/prerequisites.sh          (scripts/run.sh and scripts/test.sh call it)
set -euo pipefail

packages=(libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libssl-dev libsqlite3-dev libgoogle-perftools-dev openssl postgresql python3-pip curl chromium fonts-noto-cjk prometheus)
need=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done
if ((${#need[@]})); then
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "prerequisites: missing ${need[*]}; install them as root (apt-get install ${need[*]})" >&2; exit 1; }
        sudo="sudo"
    fi
    echo "== installing ${need[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

python=(protobuf cryptography jsonschema pyyaml openapi-spec-validator websocket-client)
if ! python3 -c "import google.protobuf, cryptography, jsonschema, yaml, openapi_spec_validator, websocket" 2>/dev/null; then
    echo "== installing Python ${python[*]}"
    python3 -m pip install -q "${python[@]}" 2>/dev/null || python3 -m pip install -q --break-system-packages "${python[@]}"
fi

if ! command -v swift >/dev/null; then
    [[ -x /opt/swift/usr/bin/swift ]] || { echo "prerequisites: Swift 6 is not on PATH nor at /opt/swift (https://swift.org/install)" >&2; exit 1; }
fi
