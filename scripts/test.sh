#!/usr/bin/env bash
# The test command: generated code must match Proto/, then every test runs against real
# processes, real TLS and real databases. Needs the packages .ci/run installs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== generated code is fresh"
scripts/generate-proto.sh --check

echo "== build"
swift build --build-tests

echo "== tests"
swift test --skip-build "$@"
