#!/usr/bin/env bash
# The designation campaign at nation scale (issue 12): a release stack on the embedded
# default (SQLite) loads the synthetic nation (31 provinces, about 580,000 clinics) through
# the gateway and designates it through the workflow (apply, approve, sign in batches:
# `medicare demo --scale nation --campaign --persons 0`), then asks for the national view
# (Registry/GetNationalView, `medicare report national`) several times. Prints the load's
# seconds and rate and each view's seconds; the county load in the same run is the baseline.
#
#   scripts/bench-campaign.sh [VIEWS]        # release build first: swift build -c release
#
# Ports 7200-7203 and 9200-9203 must be free. KEEP_WORK=1 keeps the work folder; SCALES
# (default "county nation") picks the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
views=${1:-5}
name=bench-campaign
source scripts/bench-stack.sh

run() { # scale
    local scale=$1 dir="$work/$1"
    mkdir -p "$dir"
    up registry 7201 9201 "sqlite:$dir/registry.sqlite" "$dir" --upstream.supervision 127.0.0.1:7203
    up supervision 7203 9203 "sqlite:$dir/supervision.sqlite" "$dir" --upstream.registry 127.0.0.1:7201 --upstream.settlement 127.0.0.1:7202
    up settlement 7202 9202 "sqlite:$dir/settlement.sqlite" "$dir" --upstream.supervision 127.0.0.1:7203
    up gateway 7200 9200 "sqlite:$dir/gateway.sqlite" "$dir" --upstream.registry 127.0.0.1:7201 --upstream.settlement 127.0.0.1:7202 --upstream.supervision 127.0.0.1:7203
    local m=("$bin/medicare")
    "${m[@]}" demo --scale "$scale" --campaign --persons 0 --gateway 127.0.0.1:7200 --certs "$work/certs" --json >"$dir/demo.json" 2>"$dir/demo.err"
    python3 - "$scale" "$dir/demo.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[2]))
print(f"{sys.argv[1]:7s} load: {d['institutions']} institutions, {d['designated']} designated through the workflow in {d['seconds']:.1f} s ({d['designated'] / d['seconds']:.0f} designations/s)")
PY
    for i in $(seq 1 "$views"); do
        local start end
        start=$(date +%s.%N)
        "${m[@]}" report national --as-of 2025-01-15 --gateway 127.0.0.1:7200 --certs "$work/certs" --json >"$dir/view.json"
        end=$(date +%s.%N)
        python3 - "$scale" "$i" "$start" "$end" "$dir/view.json" <<'PY'
import json, sys
view = json.load(open(sys.argv[5]))
provinces = view.get("provinces", [])
print(f"{sys.argv[1]:7s} national view {sys.argv[2]}: {float(sys.argv[4]) - float(sys.argv[3]):.2f} s (the CLI process included), "
      f"{len(provinces)} provinces, {sum(p.get('covered', 0) for p in provinces)} of {sum(p.get('villages', 0) for p in provinces)} villages covered")
if not provinces: sys.exit("the national view is empty")
PY
    done
    # The registry's own time for the view (medicare_rpc_duration_seconds), without the CLI and the gateway.
    curl -s localhost:9201/metrics | python3 -c '
import sys; s = c = 0.0
for line in sys.stdin:
    if line.startswith("medicare_rpc_duration_seconds_sum") and "GetNationalView" in line: s = float(line.split()[-1])
    if line.startswith("medicare_rpc_duration_seconds_count") and "GetNationalView" in line: c = float(line.split()[-1])
print(f"        registry time per national view: {s / c:.3f} s (mean of {c:.0f})" if c else "        registry time: -")'
    # Where the load's time went: the registry's seconds per method (its own time, calls in a row).
    curl -s localhost:9201/metrics | python3 -c '
import re, sys
sums, counts = {}, {}
for line in sys.stdin:
    m = re.match(r"medicare_rpc_duration_seconds_(sum|count)\{.*method=\"([^\"]+)\".*\} (\S+)", line)
    if m: (sums if m.group(1) == "sum" else counts)[m.group(2)] = float(m.group(3))
for method, s in sorted(sums.items(), key=lambda kv: -kv[1]):
    if s >= 0.5: print(f"        registry {method}: {s:.1f} s in {counts.get(method, 0):.0f} calls")'
    stop_stack
}

for scale in ${SCALES:-county nation}; do run "$scale"; done
