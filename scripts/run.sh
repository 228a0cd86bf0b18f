#!/usr/bin/env bash
# Starts the whole stack on this machine on the embedded default (SQLite): builds in
# release, makes development certificates if missing, starts registry, settlement,
# supervision, the gateway and the operator console, loads a synthetic demo county once,
# prints the endpoints (and, the first time, the console's password for user `ops`).
# Ctrl-C stops everything cleanly.
#
#   MEDICARE_DATA=data MEDICARE_CERTS=certs scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
scripts/prerequisites.sh
data=${MEDICARE_DATA:-data}
certs=${MEDICARE_CERTS:-certs}
bin=.build/release

swift build -c release
mkdir -p "$data/logs"
"$bin/medicare-certs" -o "$certs"

pids=()
stop() {
    echo
    echo "stopping..."
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    echo "stopped"
    exit 0
}
trap stop INT TERM

# Four services and their callers share this machine's cores: one event loop each keeps
# them from crowding each other (a service alone on a machine uses one loop per core).
export MEDICARE_RPC_EVENT_LOOPS=${MEDICARE_RPC_EVENT_LOOPS:-1}

start() {
    local name=$1; shift
    "$bin/$name" --tls.certs "$certs" --store.url "sqlite:$data/$name.sqlite" "$@" >"$data/logs/$name.out" 2>"$data/logs/$name.log" &
    pids+=($!)
    for _ in $(seq 1 100); do
        grep -q "rpc listening" "$data/logs/$name.out" 2>/dev/null && return 0
        kill -0 "${pids[-1]}" 2>/dev/null || { echo "$name failed to start:"; tail -5 "$data/logs/$name.log"; stop; }
        sleep 0.1
    done
    echo "$name did not start in 10 s"; stop
}

# Supervision first: the registry's and settlement's audit relays deliver to it (it reaches
# them only when a case's action applies, by then they are up).
start supervision
start registry --upstream.supervision 127.0.0.1:7103
start settlement --upstream.supervision 127.0.0.1:7103
start gateway --bridge.enabled true

# The operator console (docs/console.md): user `ops` (operator, Zhejiang) with a password made
# here the first time, kept only as its hash in the users file.
if [[ ! -f "$data/console-users.json" ]]; then
    password=$(openssl rand -hex 8)
    hash=$(printf '%s\n' "$password" | "$bin/console" --hash-password)
    printf '{"users": [{"name": "ops", "role": "operator", "department": "nhsa", "region": "33", "password": "%s"}]}\n' "$hash" >"$data/console-users.json"
    echo "$password" >"$data/console-password.txt"
    chmod 600 "$data/console-password.txt" "$data/console-users.json"
fi
"$bin/console" --tls.certs "$certs" --console.users "$data/console-users.json" >"$data/logs/console.out" 2>"$data/logs/console.log" &
pids+=($!)
for _ in $(seq 1 100); do grep -q "console listening" "$data/logs/console.out" 2>/dev/null && break; sleep 0.1; done

if [[ ! -f "$data/.demo-loaded" ]]; then
    echo "loading the demo county (330802)..."
    "$bin/medicare" demo --certs "$certs" && touch "$data/.demo-loaded"
fi

cat <<INFO

medicare is running (data in $data/, logs in $data/logs/):
  gateway      127.0.0.1:7100  (mTLS; certificates in $certs/)   admin http://127.0.0.1:9100/metrics
  registry     127.0.0.1:7101                                     admin http://127.0.0.1:9101/metrics
  settlement   127.0.0.1:7102                                     admin http://127.0.0.1:9102/metrics
  supervision  127.0.0.1:7103                                     admin http://127.0.0.1:9103/metrics
  JSON bridge  https://127.0.0.1:7180  (mTLS; docs/bridge.md)
  console      http://127.0.0.1:7190  user ops, password in $data/console-password.txt

try:
  $bin/medicare coverage 330802
  $bin/medicare profile H33080200101 --date 2024-06-01
  $bin/medicare settle docs/examples/claim.json
  $bin/medicare settle docs/examples/claim.json --as province-nhc-33   # refused
  $bin/medicare load --concurrency 64 --duration 60 --mix settle=1
Ctrl-C stops everything.
INFO
wait
