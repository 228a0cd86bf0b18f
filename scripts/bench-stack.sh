# Shared by the whole-stack benchmarks (bench-engines.sh, bench-campaign.sh); sourced, not
# run. Needs `name` (the benchmark's, for messages) set before it is sourced. Gives:
#   bin, work        the executables (BENCH_BIN, default .build/release) and a fresh work folder
#                    with development certificates (kept with KEEP_WORK=1)
#   pids, up         `up NAME RPC-PORT ADMIN-PORT STORE-URL LOG-FOLDER [ARGS...]` starts a
#                    service and waits until it listens (BENCH_UP_TENTHS tenths of a second,
#                    default 150); BENCH_WORK is the work folder's parent (default /tmp)
#   stop_stack       stops what `up` started (and the benchmark's `stop_more`, if it defines one)
bin=${BENCH_BIN:-.build/release}
for tool in registry settlement supervision gateway medicare medicare-certs; do
    [[ -x $bin/$tool ]] || { echo "$name: $bin/$tool is missing: swift build -c release" >&2; exit 2; }
done
work=$(mktemp -d "${BENCH_WORK:-/tmp}/$name.XXXXXX")
pids=()
stop_stack() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
    if declare -F stop_more >/dev/null; then stop_more; fi
}
trap 'stop_stack; [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT
"$bin/medicare-certs" -o "$work/certs" >/dev/null
export MEDICARE_RPC_EVENT_LOOPS=1

up() {
    local service=$1 rpc=$2 admin=$3 url=$4 logs=$5; shift 5
    "$bin/$service" --tls.certs "$work/certs" --store.url "$url" --rpc.port "$rpc" --admin.port "$admin" "$@" \
        >"$logs/$service-$rpc.out" 2>"$logs/$service-$rpc.log" &
    pids+=($!)
    for _ in $(seq 1 "${BENCH_UP_TENTHS:-150}"); do grep -q "rpc listening" "$logs/$service-$rpc.out" 2>/dev/null && return 0; sleep 0.1; done
    echo "$name: $service did not start:" >&2; tail -5 "$logs/$service-$rpc.log" >&2; exit 1
}
