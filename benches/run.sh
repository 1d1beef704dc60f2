#!/usr/bin/env bash
# One command for issue 6: where the time goes, and what the release server does on this
# machine. Builds the release binary, runs the criterion benches (benches/parts.rs) with short
# measurement times, the concurrent flush measurement (benches/flush.rs), then a load test of
# the release binary on 127.0.0.1 with wrk (bounded: LOAD_SECONDS per run), and prints one
# Markdown table. A benchmark, not a test: nothing asserts a time. Not part of CI.
#
#   bash benches/run.sh                    # about 5 minutes once the release build is cached
#   LOAD_SECONDS=5 LOAD_CONNECTIONS=16 bash benches/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

LOAD_SECONDS=${LOAD_SECONDS:-10}
LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-8}
TIP_BODIES=${TIP_BODIES:-300}

step() { printf '\n== %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
  step "installing wrk (Debian package)"
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else
    echo "benches/run.sh needs wrk: apt-get install wrk" >&2
    exit 1
  fi
fi
command -v jq >/dev/null || { echo "benches/run.sh needs jq: apt-get install jq" >&2; exit 1; }
command -v python3 >/dev/null || { echo "benches/run.sh needs python3 (to write lookup values)" >&2; exit 1; }

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
TARGET=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
BIN="$TARGET/release/whistlebox"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/whistlebox-bench.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step "cargo build --release"
cargo build --release --quiet

step "criterion: cargo bench --bench parts (log: $WORK/parts.log)"
rm -rf "$TARGET/criterion"
cargo bench --quiet --bench parts -- --noplot >"$WORK/parts.log" 2>&1 || { cat "$WORK/parts.log" >&2; exit 1; }

step "building the flood client (benches/flood.rs)"
cargo bench --quiet --bench flood --no-run 2>/dev/null
FLOOD_BIN=$(ls -t "$TARGET"/release/deps/flood-* | grep -v '\.d$' | head -1)

step "concurrent inserts and flushes: cargo bench --bench flush (about 30 s)"
cargo bench --quiet --bench flush >"$WORK/flush.log" 2>&1 || { cat "$WORK/flush.log" >&2; exit 1; }

# ---- load test -------------------------------------------------------------------------------
step "load test: keys, server, $TIP_BODIES pre-sealed tips"
mkdir -p "$WORK/offline" "$WORK/keys" "$WORK/data" "$WORK/receipts"
echo "correct horse battery staple for the benchmark only" >"$WORK/passphrase"
"$BIN" keygen --out "$WORK/offline" --passphrase-file "$WORK/passphrase" >/dev/null
cp "$WORK/offline/inspectors.pub" "$WORK/keys/"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/admin-token"

RATE_FLAGS=()
if "$BIN" serve --help 2>&1 | grep -q -- '--rate-limits'; then
  RATE_FLAGS=(--rate-limits off)
  RATE_NOTE="rate limits off (--rate-limits off)"
else
  RATE_NOTE="no --rate-limits flag in this build (no rate limiting)"
fi

# The server checks only base64 and length (48 + k*1024), so random bytes of a sealed 1 KiB
# tip's length stand in for tips sealed in the browser.
for _ in $(seq "$TIP_BODIES"); do
  printf '{"sealed":"%s"}\n' "$(head -c 1072 /dev/urandom | base64 -w0)"
done >"$WORK/tips.jsonl"
# Receipt version 2: the browser sends a lookup value with its sealed tip. To the server a
# lookup value is 32 random-looking bytes, so random ones stand in for browsers' Argon2id runs.
python3 - "$WORK" "$TIP_BODIES" <<'PY'
import base64, json, os, sys
work, n = sys.argv[1], int(sys.argv[2])
sealed = [base64.b64encode(os.urandom(1072)).decode() for _ in range(n)]
with open(work + "/tips_v2.jsonl", "w") as f:
    for i in range(40000):
        f.write(json.dumps({"sealed": sealed[i % n], "lookup": base64.b64encode(os.urandom(32)).decode()}) + "\n")
PY

"$BIN" serve --data "$WORK/data" --keys "$WORK/keys" \
  --bind 127.0.0.1:0 --admin-bind 127.0.0.1:0 --admin-token-file "$WORK/admin-token" \
  "${RATE_FLAGS[@]}" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
for _ in $(seq 100); do
  grep -q 'admin listener on' "$WORK/serve.out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; exit 1; }
  sleep 0.1
done
PUBLIC=$(sed -n 's/^whistlebox: public listener on //p' "$WORK/serve.out" | head -1)
ADMIN=$(sed -n 's/^whistlebox: admin listener on //p' "$WORK/serve.out" | head -1)
[ -n "$PUBLIC" ] && [ -n "$ADMIN" ] || { echo "the server did not start" >&2; cat "$WORK/serve.err" >&2; exit 1; }
if curl -s "$PUBLIC/api/v1/key" | jq -e .demo >/dev/null; then
  KEY_NOTE="DEMO MODE"
else
  KEY_NOTE="real keys (whistlebox keygen)"
fi

# run_wrk NAME CONNECTIONS SECONDS URL [script args...]: stores "rps p50 p99 errors non2xx".
declare -A LOAD
server_cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
run_wrk() {
  local name=$1 conns=$2 secs=$3 url=$4
  shift 4
  local threads=$((conns < 2 ? conns : 2))
  step "wrk $name: $conns connections, ${secs} s"
  local line cpu0
  cpu0=$(server_cpu_ticks)
  line=$(wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s -s benches/load.lua "$url" -- "$@" |
    grep '^LOAD ' | tail -1)
  # LOAD requests seconds p50 p99 errors non2xx; server CPU in USER_HZ (100) ticks.
  LOAD[$name]=$(awk -v cpu=$(($(server_cpu_ticks) - cpu0)) \
    '{printf "%.1f %.1f %.1f %d %d %d %.2f", $2/$3, $4, $5, $6, $7, $2, cpu * 10 / ($2 > 0 ? $2 : 1)}' <<<"$line")
}

run_wrk tips_c1 1 $((LOAD_SECONDS / 2)) "$PUBLIC/api/v1/tips" post "$WORK/tips.jsonl" "$WORK/receipts"
run_wrk tips "$LOAD_CONNECTIONS" "$LOAD_SECONDS" "$PUBLIC/api/v1/tips" post "$WORK/tips.jsonl" "$WORK/receipts"
cat "$WORK"/receipts/*.txt | jq -rc 'select(.receipt) | {receipt: .receipt}' | head -n "$TIP_BODIES" >"$WORK/status.jsonl"
[ -s "$WORK/status.jsonl" ] || { echo "no receipts came back from the tips run" >&2; exit 1; }
run_wrk status_c1 1 $((LOAD_SECONDS / 2)) "$PUBLIC/api/v1/status" post "$WORK/status.jsonl"
run_wrk status "$LOAD_CONNECTIONS" "$LOAD_SECONDS" "$PUBLIC/api/v1/status" post "$WORK/status.jsonl"
run_wrk tips_v2 "$LOAD_CONNECTIONS" "$LOAD_SECONDS" "$PUBLIC/api/v2/tips" post "$WORK/tips_v2.jsonl"
# Lines 200-499 were sent by the run above (the first wrk thread walks the file from line 98).
sed -n '200,499p' "$WORK/tips_v2.jsonl" | jq -c '{lookup: .lookup}' >"$WORK/status_v2.jsonl"
run_wrk status_v2_c1 1 $((LOAD_SECONDS / 2)) "$PUBLIC/api/v2/status" post "$WORK/status_v2.jsonl"
run_wrk status_v2 "$LOAD_CONNECTIONS" "$LOAD_SECONDS" "$PUBLIC/api/v2/status" post "$WORK/status_v2.jsonl"
run_wrk home_c1 1 $((LOAD_SECONDS / 2)) "$PUBLIC/zh/" get
run_wrk home "$LOAD_CONNECTIONS" "$LOAD_SECONDS" "$PUBLIC/zh/" get

step "export, disk use, peak memory"
EXPORT_START=$(date +%s.%N)
TIP_COUNT=$(curl -sf -H "Authorization: Bearer $(cat "$WORK/admin-token")" "$ADMIN/admin/v1/export" | jq .tip_count)
EXPORT_SECONDS=$(awk -v a="$EXPORT_START" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b-a}')
PEAK_RSS_KB=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
DISK_BYTES=$(du -sb "$WORK/data" | cut -f1)
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

# ---- a flood of lookup-value guesses, rate limits on ----------------------------------------
# The same store, its limits on as deployed (global lookup quota 200/s), per-client limits
# applied to 127.x addresses so that many loopback addresses play many clients; then with
# --proxied, every client one address as behind Tor.
FLOOD_SECONDS=${FLOOD_SECONDS:-30}
RESIDENT_LOOKUP=$(head -1 "$WORK/status_v2.jsonl" | jq -r .lookup)
flood_run() { # label, flood per second, addresses, serve flags...
  local label=$1 rate=$2 addrs=$3
  shift 3
  "$BIN" serve --data "$WORK/data" --keys "$WORK/keys" \
    --bind 127.0.0.1:0 --admin-bind 127.0.0.1:0 --admin-token-file "$WORK/admin-token" \
    "$@" >"$WORK/serve.out" 2>"$WORK/serve.err" &
  SERVER_PID=$!
  # Opening rewrites the store (thousands of tips by now): allow it a minute.
  for _ in $(seq 600); do
    grep -q 'admin listener on' "$WORK/serve.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; exit 1; }
    sleep 0.1
  done
  PUBLIC=$(sed -n 's/^whistlebox: public listener on //p' "$WORK/serve.out" | head -1)
  [ -n "$PUBLIC" ] || { echo "the server did not start" >&2; cat "$WORK/serve.err" >&2; exit 1; }
  step "flood: $label"
  local cpu0
  cpu0=$(server_cpu_ticks)
  PUBLIC=$PUBLIC LOOKUP=$RESIDENT_LOOKUP FLOOD_PER_SECOND=$rate FLOOD_SECONDS=$FLOOD_SECONDS \
    FLOOD_ADDRESSES=$addrs LABEL="$label" "$FLOOD_BIN" >>"$WORK/flood.md"
  echo "| $label: server CPU | $(awk -v c=$(($(server_cpu_ticks) - cpu0)) -v s="$FLOOD_SECONDS" 'BEGIN{printf "%.0f%% of one core", c / s}') |" >>"$WORK/flood.md"
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
: >"$WORK/flood.md"
flood_run "many addresses, at the global quota" 200 500 --client-limits-on-loopback
flood_run "many addresses, twice the global quota" 400 1000 --client-limits-on-loopback
flood_run "one address (--proxied, as behind Tor), twice the global quota" 400 1 --proxied

# ---- the table -------------------------------------------------------------------------------
ns() { jq -r '.median.point_estimate' "$TARGET/criterion/$1/new/estimates.json"; }
human() { # nanoseconds -> readable
  awk -v n="$1" 'BEGIN{ if (n >= 1e9) printf "%.2f s", n/1e9; else if (n >= 1e6) printf "%.2f ms", n/1e6;
    else if (n >= 1e3) printf "%.1f µs", n/1e3; else printf "%.0f ns", n }'
}
CORES=$(nproc)
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
DERIVE_NS=$(ns receipt/argon2id_derive)
LIMIT=$(awk -v c="$CORES" -v d="$DERIVE_NS" 'BEGIN{printf "%.1f", c / (d / 1e9)}')
ratio() { awk -v r="$1" -v l="$LIMIT" 'BEGIN{printf "%.0f%%", 100 * r / l}'; }
load_row() { # name label
  read -r rps p50 p99 errs non2xx total cpu_ms <<<"${LOAD[$1]}"
  echo "| $2 | $rps req/s; p50 $p50 ms, p99 $p99 ms; server CPU $cpu_ms ms/request ($total requests, $non2xx not 2xx, $errs socket errors) |"
}
rps() { cut -d' ' -f1 <<<"${LOAD[$1]}"; }

{
  echo "| Measure | Figure |"
  echo "|---|---|"
  echo "| Machine | $CORES cores, $CPU, $(uname -r); load average $LOADAVG_START at start, $(cut -d' ' -f1-3 /proc/loadavg) at end |"
  echo "| Server | release build, $KEY_NOTE, $RATE_NOTE, --argon2-threads = --workers = $CORES; wrk on the same cores |"
  for id in tip/seal_1KiB tip/open_1KiB tip/seal_64KiB tip/open_64KiB \
    receipt/argon2id_derive receipt/store_view_1000 receipt/lookup_value_parse_and_index receipt/parse \
    store/sled_insert_flush_1KiB bundle/write_export_1000 bundle/parse_and_open_1000; do
    echo "| $id (criterion median) | $(human "$(ns "$id")") |"
  done
  grep '^| flush: ' "$WORK/flush.log" || true
  echo "| Argon2id limit on $CORES cores ($CORES / derive time) | $LIMIT /s |"
  load_row tips_c1 "POST /api/v1/tips, 1 connection"
  load_row tips "POST /api/v1/tips, $LOAD_CONNECTIONS connections"
  load_row status_c1 "POST /api/v1/status, 1 connection"
  load_row status "POST /api/v1/status, $LOAD_CONNECTIONS connections"
  load_row tips_v2 "POST /api/v2/tips (lookup value), $LOAD_CONNECTIONS connections"
  load_row status_v2_c1 "POST /api/v2/status (lookup value), 1 connection"
  load_row status_v2 "POST /api/v2/status (lookup value), $LOAD_CONNECTIONS connections"
  load_row home_c1 "GET /zh/, 1 connection"
  load_row home "GET /zh/, $LOAD_CONNECTIONS connections"
  echo "| Argon2id CPU per derivation (flush bench, 2 threads alone) | $(grep '^| flush: Argon2id derive alone' "$WORK/flush.log" | sed 's/.*, \([0-9.]*\) ms CPU each.*/\1/') ms |"
  echo "| Tips throughput / Argon2id limit | $(ratio "$(rps tips)") |"
  echo "| Status throughput / Argon2id limit | $(ratio "$(rps status)") |"
  echo "| Server peak RSS (VmHWM) | $((PEAK_RSS_KB / 1024)) MiB |"
  echo "| Disk per stored tip (du -sb data / tips, 1 KiB tips) | $((DISK_BYTES / TIP_COUNT)) bytes ($TIP_COUNT tips, $((DISK_BYTES / 1024)) KiB) |"
  echo "| Admin export of all $TIP_COUNT tips (curl, wall) | $EXPORT_SECONDS s |"
  cat "$WORK/flood.md"
}
