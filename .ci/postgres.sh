#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on a loopback port, in a folder of its own:
#
#   bash .ci/postgres.sh start DIR PORT   # initdb in DIR/data, start; prints the URL to use
#   bash .ci/postgres.sh stop DIR         # stop it (the folder is left for the caller)
#
# As root (CI), it runs PostgreSQL as the `postgres` user that Debian's package creates.
# The binaries: WHISTLEBOX_PG_BIN, or the newest /usr/lib/postgresql/*/bin.
# Trust authentication on 127.0.0.1 only: a test cluster, never one that holds tips.
set -euo pipefail
cmd=${1:?usage: postgres.sh start DIR PORT | stop DIR}
dir=${2:?usage: postgres.sh start DIR PORT | stop DIR}
bin=${WHISTLEBOX_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$bin/initdb" ] || { echo "postgres.sh: no PostgreSQL binaries (apt-get install postgresql, or set WHISTLEBOX_PG_BIN)" >&2; exit 1; }
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case $cmd in
  start)
    port=${3:?usage: postgres.sh start DIR PORT}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log"
    # The privacy settings of deploy/postgresql/primary.conf that matter to the tests.
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
synchronous_commit = on
track_commit_timestamp = off
log_statement = none
log_min_duration_statement = -1
log_connections = off
log_disconnections = off
CONF
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  *)
    echo "postgres.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
