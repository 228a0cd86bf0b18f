#!/usr/bin/env bash
# A province's worth of data on the embedded default (SQLite), then the national visit flow
# through the gateway on it, against the same flow on the small demo data in the same run.
#
#   scripts/bench-province.sh [SECONDS]     # release build first: swift build -c release
#
# Load, each step timed:
#   1. the full synthetic catalogue (scripts/generate-catalogue.py: 60,000 drugs, 10,000
#      services, 50,000 consumables, 30,000 diagnoses) published by settlement at start-up;
#   2. the demo's institutions and PROVINCE_PERSONS insured persons (default 10,000,000) with
#      their insurance records, imported through the gateway (ImportPersons, 5,000 a call);
#   3. PROVINCE_PER_PERSON past settlements per person (default 2: 20,000,000) written into the
#      stopped settlement's store as a legacy system's history (province-bench), with their
#      billed items, ledger entries and accumulators.
# Then the visit flow (each visit four calls: register, diagnoses, details, settle) at 64 in
# flight for SECONDS (default 20) on that data, then on a fresh stack with the demo's 2,000
# persons and the fixture catalogue (10 items, 38 diagnoses: the baseline). KEEP_WORK=1 keeps the work folder
# (it holds tens of GB at full scale; BENCH_WORK chooses its parent). Ports 7100-7111, 9100-9111.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
name=bench-province
persons=${PROVINCE_PERSONS:-10000000}
per=${PROVINCE_PER_PERSON:-2}
[[ -x ${BENCH_BIN:-.build/release}/province-bench ]] || { echo "$name: province-bench is missing: swift build -c release" >&2; exit 2; }
# Publishing the catalogue and opening a store of tens of GB take longer than the usual 15 s.
export BENCH_UP_TENTHS=${BENCH_UP_TENTHS:-1800}
source scripts/bench-stack.sh
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

stack() { # folder [settlement args...]
    local dir=$1; shift
    mkdir -p "$dir"
    up registry 7101 9101 "sqlite:$dir/registry.sqlite" "$dir" --upstream.supervision 127.0.0.1:7103
    up supervision 7103 9103 "sqlite:$dir/supervision.sqlite" "$dir"
    settlement_up "$dir" "$@"
    up gateway 7100 9100 "sqlite:$dir/gateway.sqlite" "$dir" --upstream.registry 127.0.0.1:7101 \
        --upstream.settlement 127.0.0.1:7111 --upstream.supervision 127.0.0.1:7103
}
settlement_up() { # folder [args...]
    local dir=$1; shift
    up settlement 7111 9111 "sqlite:$dir/settlement.sqlite" "$dir" --upstream.supervision 127.0.0.1:7103 "$@"
}
# The province's settlement with a page cache its millions of rows need (store.cache-mb).
big_cache=(--store.cache-mb "${PROVINCE_CACHE_MB:-1024}")
visits() { # folder persons -> "visits/s p50 p99 ok"
    "$bin/medicare" load --gateway 127.0.0.1:7100 --certs "$work/certs" --concurrency 64 --warmup 3 --duration "$secs" \
        --mix visit=1 --persons "$2" >"$1/load.out" 2>"$1/load.err" || { echo "$name: load failed:" >&2; tail -5 "$1/load.err" >&2; exit 1; }
    grep '^visit ' "$1/load.out" || { echo "$name: no visit figures:" >&2; cat "$1/load.out" >&2; exit 1; }
}

big=$work/province
mkdir -p "$big"
python3 scripts/generate-catalogue.py >"$work/catalogue.json" 2>/dev/null
t=$(now)
stack "$big" --policy.file "$work/catalogue.json" "${big_cache[@]}"
catalogue_s=$(since "$t")
echo "$name: stack up with the catalogue published in $catalogue_s s" >&2
t=$(now)
"$bin/medicare" demo --gateway 127.0.0.1:7100 --certs "$work/certs" --persons "$persons" >"$big/demo.out" 2>"$big/demo.err" \
    || { echo "$name: demo failed:" >&2; tail -5 "$big/demo.err" >&2; exit 1; }
persons_s=$(since "$t")
echo "$name: institutions and $persons persons imported in $persons_s s" >&2
# Settlement stopped (it is the third process started) while its history is written.
kill -TERM "${pids[2]}"; wait "${pids[2]}" 2>/dev/null || true
unset 'pids[2]'
t=$(now)
"$bin/province-bench" --store "$big/settlement.sqlite" --per-person "$per" >"$big/history.out"
history_s=$(since "$t")
cat "$big/history.out" >&2
t=$(now)
settlement_up "$big" --policy.file "$work/catalogue.json" "${big_cache[@]}"
restart_s=$(since "$t")
sleep 3  # the gateway's reconnection backoff (2 s) after settlement went away
big_row=$(visits "$big" "$persons")
size=$(du -sh "$big" | cut -f1)
stop_stack

small=$work/demo
stack "$small"
"$bin/medicare" demo --gateway 127.0.0.1:7100 --certs "$work/certs" >"$small/demo.out" 2>"$small/demo.err" || { echo "$name: small demo failed" >&2; exit 1; }
small_row=$(visits "$small" 2000)
stop_stack

python3 - "$catalogue_s" "$persons_s" "$history_s" "$restart_s" "$persons" "$per" "$size" "$secs" "$big_row" "$small_row" <<'PY'
import sys
catalogue, persons_s, history, restart = map(float, sys.argv[1:5])
persons, per, size, secs = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7], sys.argv[8]
def row(text):
    f = text.split()
    return dict(ok=int(f[1]), rate=float(f[2]), p50=float(f[3]), p99=float(f[5]))
big, small = row(sys.argv[9]), row(sys.argv[10])
total = catalogue + persons_s + history + restart
print(f"province load ({size} on disk): {total / 60:.1f} min in all")
print(f"  catalogue (150,048 records) published, stack up   {catalogue:8.1f} s")
print(f"  institutions and {persons:,} persons with records  {persons_s:8.1f} s  ({persons / max(persons_s, 0.001):,.0f} persons/s)")
print(f"  {persons * per:,} past settlements                  {history:8.1f} s  ({persons * per / max(history, 0.001):,.0f} settlements/s)")
print(f"  settlement restarted on it                        {restart:8.1f} s")
print(f"visit flow through the gateway, 64 in flight, {secs} s (each visit 4 calls); baseline: demo data")
print(f"{'data':10s} {'visits/s':>9s} {'vs base':>8s} {'p50 ms':>8s} {'p99 ms':>8s}")
for label, r in (("demo", small), ("province", big)):
    print(f"{label:10s} {r['rate']:9.0f} {r['rate'] / small['rate']:7.2f}x {r['p50']:8.1f} {r['p99']:8.1f}")
PY
