#!/usr/bin/env bash
# Builds in release and starts what exists on this machine; Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release
bin=.build/release
certs=${MEDICARE_CERTS:-certs}
"$bin/medicare-certs" -o "$certs"
port=${MEDICARE_ECHO_PORT:-7000}
echo "echo server on 127.0.0.1:$port (certificates in $certs/)"
exec "$bin/medicare-echo" --certs "$certs" --port "$port"
