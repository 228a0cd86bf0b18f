#!/usr/bin/env bash
# Starts a throw-away PostgreSQL from Debian's packages in a temporary folder and prints
# its URL; `scripts/postgres.sh stop DIR` stops it and removes the folder. PostgreSQL
# refuses to run as root, so as root it runs as the `postgres` user.
#
#   eval "$(scripts/postgres.sh start)"   # sets MEDICARE_TEST_POSTGRES_URL and MEDICARE_PG_DIR
#   scripts/postgres.sh stop "$MEDICARE_PG_DIR"
#   scripts/postgres.sh crash "$MEDICARE_PG_DIR"    # stop at once, as a crash (recovery on resume)
#   scripts/postgres.sh resume "$MEDICARE_PG_DIR"   # start it again on the same port and data
#
# MEDICARE_PG_SETTINGS adds server settings ("-c name=value ..."), for example
# "-c shared_preload_libraries=pg_stat_statements" to see what a load run asks of it.
set -euo pipefail

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -z "$pg_bin" ]]; then
    echo "postgres.sh: PostgreSQL is not installed (apt-get install -y postgresql)" >&2
    exit 2
fi
as_pg() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-start}" in
start)
    dir=$(mktemp -d /tmp/medicare-pg.XXXXXX)
    [[ $(id -u) == 0 ]] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_pg "$pg_bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    as_pg "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=128MB ${MEDICARE_PG_SETTINGS:-}" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "export MEDICARE_PG_DIR=$dir"
    echo "export MEDICARE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres"
    ;;
crash)
    dir=${2:?usage: postgres.sh crash DIR}
    as_pg "$pg_bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
    ;;
resume)
    dir=${2:?usage: postgres.sh resume DIR}
    port=$(cat "$dir/port")
    as_pg "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=128MB ${MEDICARE_PG_SETTINGS:-}" start >/dev/null \
        || { tail -20 "$dir/server.log" >&2; exit 1; }
    ;;
stop)
    dir=${2:?usage: postgres.sh stop DIR}
    as_pg "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: postgres.sh start | stop DIR | crash DIR | resume DIR" >&2
    exit 2
    ;;
esac
