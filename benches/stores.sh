#!/usr/bin/env bash
# sled against PostgreSQL, in one run: submissions (POST /api/v2/tips, a lookup value and a
# sealed tip: the store's durable insert is most of its cost) and status checks (POST
# /api/v2/status) per second with wrk on 127.0.0.1, and the CPU each request costs the
# server, read from /proc: whistlebox's own, and for PostgreSQL also that of every process
# of its cluster (the backends do the store's work there). The PostgreSQL cluster is a
# throwaway one (.ci/postgres.sh) with fsync and synchronous_commit on, no standby. A
# benchmark, not a test: nothing asserts a time. Not part of CI.
#
#   bash benches/stores.sh                  # release build (as benches/run.sh)
#   PROFILE=debug bash benches/stores.sh    # the dev build (dependencies at opt-level 2)
#   LOAD_SECONDS=10 LOAD_CONNECTIONS=8 FRONTENDS=2 bash benches/stores.sh
set -euo pipefail
cd "$(dirname "$0")/.."

LOAD_SECONDS=${LOAD_SECONDS:-10}
LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-8}
PROFILE=${PROFILE:-release}
PG_PORT=${PG_PORT:-54339}

step() { printf '\n== %s\n' "$*" >&2; }
for tool in wrk jq python3; do
  command -v "$tool" >/dev/null || { echo "benches/stores.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done

TARGET=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
if [ "$PROFILE" = release ]; then
  step "cargo build --release"
  cargo build --release --quiet
  BIN="$TARGET/release/whistlebox"
  BUILD_NOTE="release build"
else
  step "cargo build"
  cargo build --quiet
  BIN="$TARGET/debug/whistlebox"
  BUILD_NOTE="dev build (whistlebox unoptimized, dependencies at opt-level 2)"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/whistlebox-stores.XXXXXX")
SERVER_PID=""
# Outside WORK (0700, root's when run as root): PostgreSQL's own user must reach it.
PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/whistlebox-stores-pg.XXXXXX")
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  bash .ci/postgres.sh stop "$PG_DIR" 2>/dev/null || true
  rm -rf "$WORK" "$PG_DIR"
}
trap cleanup EXIT

step "keys, bodies, a PostgreSQL cluster on 127.0.0.1:$PG_PORT"
mkdir -p "$WORK/offline" "$WORK/keys"
echo "correct horse battery staple for the benchmark only" >"$WORK/passphrase"
"$BIN" keygen --out "$WORK/offline" --passphrase-file "$WORK/passphrase" >/dev/null
cp "$WORK/offline/inspectors.pub" "$WORK/keys/"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/admin-token"
python3 - "$WORK" <<'PY'
import base64, json, os, sys
work = sys.argv[1]
sealed = [base64.b64encode(os.urandom(1072)).decode() for _ in range(300)]
for store in ("sled", "postgres"):
    with open(f"{work}/tips-{store}.jsonl", "w") as f:
        for i in range(30000):
            f.write(json.dumps({"sealed": sealed[i % 300], "lookup": base64.b64encode(os.urandom(32)).decode()}) + "\n")
PY
bash .ci/postgres.sh start "$PG_DIR" "$PG_PORT" >/dev/null
psql "host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres" -qc "CREATE DATABASE whistlebox_bench" >/dev/null
PG_URL="host=127.0.0.1 port=$PG_PORT user=postgres dbname=whistlebox_bench"
POSTMASTER=$(head -1 "$PG_DIR/data/postmaster.pid")

ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() { # the postmaster and every process it started
  local total=0 pid
  for pid in $POSTMASTER $(pgrep -P "$POSTMASTER"); do total=$((total + $(ticks_of "$pid"))); done
  echo "$total"
}

start_server() { # store
  local store=$1
  mkdir -p "$WORK/data-$store"
  "$BIN" serve --data "$WORK/data-$store" --keys "$WORK/keys" --store "$([ "$store" = sled ] && echo sled || echo "$PG_URL")" \
    --bind 127.0.0.1:0 --admin-bind 127.0.0.1:0 --admin-token-file "$WORK/admin-token" \
    --rate-limits off >"$WORK/serve.out" 2>"$WORK/serve.err" &
  SERVER_PID=$!
  for _ in $(seq 300); do
    grep -q 'admin listener on' "$WORK/serve.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; exit 1; }
    sleep 0.1
  done
  PUBLIC=$(sed -n 's/^whistlebox: public listener on //p' "$WORK/serve.out" | head -1)
  [ -n "$PUBLIC" ] || { echo "the server did not start" >&2; cat "$WORK/serve.err" >&2; exit 1; }
}

ROWS=()
run_wrk() { # store label path bodies
  local store=$1 label=$2 path=$3 bodies=$4 conns=$LOAD_CONNECTIONS
  local threads=$((conns < 2 ? conns : 2)) line c0 p0
  step "$store: $label, $conns connections, ${LOAD_SECONDS} s"
  c0=$(ticks_of "$SERVER_PID")
  p0=$(pg_ticks)
  line=$(wrk -t"$threads" -c"$conns" -d"${LOAD_SECONDS}s" --timeout 10s -s benches/load.lua "$PUBLIC$path" -- post "$bodies" |
    grep '^LOAD ' | tail -1)
  local cpu=$(($(ticks_of "$SERVER_PID") - c0)) pg=0
  [ "$store" = postgres ] && pg=$(($(pg_ticks) - p0))
  ROWS+=("$(awk -v cpu="$cpu" -v pg="$pg" -v store="$store" -v label="$label" -v conns="$conns" '{
    n = ($2 > 0 ? $2 : 1);
    db = (store == "postgres") ? sprintf(" + PostgreSQL %.2f ms", pg * 10 / n) : "";
    printf "| %s, %s, %d connections | %.1f req/s; p50 %.1f ms, p99 %.1f ms; CPU per request: whistlebox %.2f ms%s (%d requests, %d not 2xx, %d socket errors) |",
      label, store, conns, $2/$3, $4, $5, cpu * 10 / n, db, $2, $7, $6 }' <<<"$line")")
}

for store in sled postgres; do
  start_server "$store"
  run_wrk "$store" "POST /api/v2/tips (durable insert)" /api/v2/tips "$WORK/tips-$store.jsonl"
  sed -n '200,499p' "$WORK/tips-$store.jsonl" | jq -c '{lookup: .lookup}' >"$WORK/status-$store.jsonl"
  run_wrk "$store" "POST /api/v2/status (store read)" /api/v2/status "$WORK/status-$store.jsonl"
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
done

echo "| Measure | Figure |"
echo "|---|---|"
echo "| Stores run | $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo); $BUILD_NOTE, rate limits off, wrk, whistlebox and PostgreSQL $(psql -V | awk '{print $3}') (fsync on, synchronous_commit on, no standby) on the same cores; load average $(cut -d' ' -f1-3 /proc/loadavg) at end |"
printf '%s\n' "${ROWS[@]}"
