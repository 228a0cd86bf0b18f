#!/usr/bin/env bash
# The whole stack on each storage engine in one run, the same load on each: SQLite (the
# embedded default, one settlement), then one PostgreSQL 15 with one and with two settlement
# replicas, all services on it. For each: settles/s and latency at 64 in flight
# (`medicare load --mix settle=1`), the CPU the stack's processes spent per settlement
# (services, PostgreSQL's backends and the load generator, from /proc), the audit relay's mean
# lag, and real-time monitoring's mean lag behind the postings (supervision's
# medicare_supervision_monitor_lag_seconds: it stays bounded when monitoring keeps up).
# The SQLite row is the baseline the PostgreSQL rows are compared with. Each load first runs
# BENCH_WARMUP seconds (default 3) that are not counted, neither calls nor CPU: the figures are
# the steady state, not connections opening, caches filling and statements being prepared.
#
#   scripts/bench-engines.sh [SECONDS]        # release build first: swift build -c release
#
# BENCH_MIX=visit=1 loads the national visit flow instead (each visit four calls: register,
# diagnoses, details, settle; the figures are then visits). BENCH_BIN=.build/debug runs other
# executables; BENCH_ENGINES="sqlite postgres-1" runs only
# those rows (the first is the baseline); KEEP_WORK=1 keeps the work folder (logs, databases)
# for a look after a failure. MEDICARE_PG_SETTINGS="-c shared_preload_libraries=pg_stat_statements"
# prints, for each PostgreSQL row, the statements that took the server's time.
#
# Linux only (reads /proc). Ports 7100-7112 and 9100-9112 must be free.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
name=bench-engines
pg_dir=""
stop_more() { if [[ -n $pg_dir ]]; then scripts/postgres.sh stop "$pg_dir"; pg_dir=""; fi; }
source scripts/bench-stack.sh

run() { # label engine replicas
    local label=$1 engine=$2 replicas=$3 url settlements="" i
    if [[ $engine == postgres ]]; then
        eval "$(scripts/postgres.sh start)"
        pg_dir=$MEDICARE_PG_DIR
        url=$MEDICARE_TEST_POSTGRES_URL
    fi
    store() { if [[ $engine == postgres ]]; then echo "$url"; else echo "sqlite:$work/$label-$1.sqlite"; fi; }
    up registry 7101 9101 "$(store registry)" "$work" --upstream.supervision 127.0.0.1:7103
    up supervision 7103 9103 "$(store supervision)" "$work"
    for i in $(seq 1 "$replicas"); do
        up settlement $((7110 + i)) $((9110 + i)) "$(store settlement)" "$work" --upstream.supervision 127.0.0.1:7103
        settlements+=",127.0.0.1:$((7110 + i))"
    done
    up gateway 7100 9100 "$(store gateway)" "$work" --upstream.registry 127.0.0.1:7101 \
        --upstream.settlement "${settlements#,}" --upstream.supervision 127.0.0.1:7103
    "$bin/medicare" demo --gateway 127.0.0.1:7100 --certs "$work/certs" >/dev/null 2>&1 || { echo "bench-engines: demo failed" >&2; exit 1; }
    # The load runs BENCH_WARMUP seconds (default 3) before it counts, and the CPU is counted
    # from then: connections, route caches and prepared statements warm up first.
    /usr/bin/env python3 - "$bin/medicare" "$work" "$secs" "${BENCH_WARMUP:-3}" >"$work/load.txt" <<'EOF'
import os, subprocess, sys, time
medicare, work, secs, warmup = sys.argv[1:5]
with open(f'{work}/load.out', 'w') as output:
    load = subprocess.Popen([medicare, 'load', '--gateway', '127.0.0.1:7100', '--certs', f'{work}/certs', '--concurrency', '64',
                             '--warmup', warmup, '--duration', secs, '--mix', os.environ.get('BENCH_MIX', 'settle=1')],
                            stdout=output, stderr=subprocess.DEVNULL)
time.sleep(float(warmup))
subprocess.run(['python3', 'scripts/cpu-snapshot.py', f'{work}/before.json'], check=True)
stat = open(f'/proc/{load.pid}/stat').read()
warm = sum(int(f) for f in stat[stat.rindex(')') + 2:].split()[11:13]) / os.sysconf('SC_CLK_TCK')
_, status, usage = os.wait4(load.pid, 0)
out = open(f'{work}/load.out').read()
print(out.strip().splitlines()[-1]); print(f"loadgen {usage.ru_utime + usage.ru_stime - warm}")
sys.exit(os.waitstatus_to_exitcode(status))
EOF
    python3 scripts/cpu-snapshot.py "$work/after.json"
    if [[ $engine == postgres && ${MEDICARE_PG_SETTINGS:-} == *pg_stat_statements* ]]; then
        psql -X -q "$url" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
            -c "SELECT calls, round(total_exec_time) AS ms, round(total_exec_time * 1000 / calls) AS us_per_call, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
                FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 30" >&2
    fi
    local lag
    lag=$(for i in $(seq 1 "$replicas"); do curl -s "localhost:$((9110 + i))/metrics"; done | python3 -c '
import sys; s = c = 0.0
for line in sys.stdin:
    if line.startswith("medicare_settlement_audit_lag_seconds_sum"): s += float(line.split()[1])
    if line.startswith("medicare_settlement_audit_lag_seconds_count"): c += float(line.split()[1])
print(f"{1000 * s / c:.0f}" if c else "-")')
    local monitor
    monitor=$(curl -s "localhost:9103/metrics" | python3 -c '
import sys; s = c = 0.0
for line in sys.stdin:
    if line.startswith("medicare_supervision_monitor_lag_seconds_sum"): s += float(line.split()[1])
    if line.startswith("medicare_supervision_monitor_lag_seconds_count"): c += float(line.split()[1])
print(f"{1000 * s / c:.0f}" if c else "-")')
    python3 - "$label" "$work" "$lag" "$monitor" <<'EOF' >>"$work/results.txt"
import json, sys
label, work, lag, monitor = sys.argv[1:5]
before, after = json.load(open(f'{work}/before.json')), json.load(open(f'{work}/after.json'))
lines = open(f'{work}/load.txt').read().split('\n')
fields = lines[0].split(); loadgen = float(lines[1].split()[1])
ok, rate, p50, p99 = int(fields[1]), float(fields[2]), float(fields[3]), float(fields[5])
by = {}
for pid, (comm, v) in after.items():
    by[comm] = by.get(comm, 0.0) + v - (before.get(pid, [comm, 0.0])[1])
by['medicare'] = by.get('medicare', 0.0) + loadgen
cpu = sum(by.values())
per = {k: round(1000 * v / max(ok, 1), 3) for k, v in sorted(by.items())}
print(json.dumps(dict(label=label, ok=ok, rate=rate, p50=p50, p99=p99, cpu_ms=1000 * cpu / max(ok, 1), lag_ms=lag, monitor_ms=monitor, per=per)))
EOF
    stop_stack
}

for row in ${BENCH_ENGINES:-sqlite postgres-1 postgres-2}; do
    case $row in
        sqlite) run "sqlite" sqlite 1 ;;
        postgres-1|postgres-2) run "$row" postgres "${row#postgres-}" ;;
        *) echo "bench-engines: BENCH_ENGINES names sqlite, postgres-1 or postgres-2, not $row" >&2; exit 2 ;;
    esac
done
python3 - "$work/results.txt" "$secs" <<'EOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
base = rows[0]
unit = "visit" if os.environ.get("BENCH_MIX", "settle=1") == "visit=1" else "settle"
print(f"whole stack, {sys.argv[2]} s at 64 in flight, {os.environ.get('BENCH_MIX', 'settle=1')}; baseline: {base['label']}")
print(f"{'engine':12s} {unit + 's/s':>10s} {'vs base':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'CPU ms/' + unit:>14s} {'vs base':>8s} {'relay lag ms':>13s} {'monitor lag ms':>15s}")
for r in rows:
    print(f"{r['label']:12s} {r['rate']:10.0f} {r['rate'] / base['rate']:7.2f}x {r['p50']:8.1f} {r['p99']:8.1f} {r['cpu_ms']:14.3f} "
          f"{r['cpu_ms'] / base['cpu_ms']:7.2f}x {r['lag_ms']:>13s} {r['monitor_ms']:>15s}")
print("CPU ms per settlement by process (medicare: the load generator):")
for r in rows:
    print(f"{r['label']:12s} " + "  ".join(f"{k} {v:.3f}" for k, v in r['per'].items()))
EOF
