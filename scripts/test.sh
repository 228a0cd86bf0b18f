#!/usr/bin/env bash
# The test command: generated code must match Proto/, then every test runs against real
# processes, real TLS and real databases. Needs the packages .ci/run installs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
scripts/prerequisites.sh

echo "== generated code is fresh"
scripts/generate-proto.sh --check
python3 -m openapi_spec_validator docs/openapi.json
echo "== the Python client's own tests"
python3 -m unittest discover -s clients/python/tests

echo "== build"
swift build --build-tests

if [[ "${MEDICARE_SKIP_POSTGRES:-}" != 1 && -z "${MEDICARE_TEST_POSTGRES_URL:-}" ]]; then
    echo "== starting a temporary PostgreSQL"
    eval "$(scripts/postgres.sh start)"
    trap 'scripts/postgres.sh stop "$MEDICARE_PG_DIR"' EXIT
fi

# The whole-stack suites (four processes each, started and stopped per test) run after the
# others, not beside them: on two cores they starved the transport's timing-bound tests.
stacks='StackTests|SupervisionStackTests|DesignationWorkflowTests|WorkLedgerStackTests|CampaignCLITests|RelationshipStackTests|NationalViewStackTests|PricePublicityStackTests|FileImportCLITests|JSONBridgeTests|ConsoleTests|OpsTests|LoadReportTests|MethodVerbTests|HISSessionTests|PublicationTests'
if [[ $# -eq 0 ]]; then
    echo "== tests"
    swift test --skip-build --skip "$stacks"
    echo "== whole stack"
    swift test --skip-build --filter "$stacks"
else
    echo "== tests"
    swift test --skip-build "$@"
fi

# The replica stack (seven processes, a PostgreSQL of its own crashed under load) runs on its
# own: beside the other suites on two cores it starved their timing-bound tests.
if [[ "${MEDICARE_SKIP_POSTGRES:-}" != 1 && $# -eq 0 ]]; then
    echo "== whole stack: replicas on PostgreSQL"
    MEDICARE_REPLICA_STACK=1 swift test --skip-build --filter ReplicaStackTests
fi
