#!/usr/bin/env bash
# Short fuzz run, as CI does it: builds the four targets once, then runs each for
# FUZZ_SECONDS (30) seconds from its committed seeds (seeds/<target>/) plus a scratch
# corpus (corpus/<target>/, ignored by git). Exits non-zero on the first crash, timeout or
# out-of-memory; libFuzzer saves the input under artifacts/<target>/.
#
# Usage: bash fuzz/ci.sh [target...]     (from anywhere; needs cargo-fuzz installed)
# cargo-fuzz needs nightly-only flags: on the stable toolchain RUSTC_BOOTSTRAP=1 allows them.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
# The report page's JavaScript bundle is of no use to the fuzzers.
export WHISTLEBOX_NO_JS=1
seconds=${FUZZ_SECONDS:-30}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(receipt_parse sealed_plaintext export_bundle signed_bundle)
fi
# Release build with debug assertions and overflow checks (-a), AddressSanitizer (default).
# FUZZ_TARGET_DIR lets CI keep the fuzz build between runs (it is ~all dependencies).
opts=(-a)
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
  opts+=(--target-dir "$FUZZ_TARGET_DIR")
fi
start=$SECONDS
cargo fuzz build "${opts[@]}"
echo "fuzz build: $((SECONDS - start)) s"
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "--- $t: ${seconds} s"
  # -timeout: one input taking over 10 s counts as a failure (bounded work).
  # -rss_limit_mb / -malloc_limit_mb: so does needing over 1 GiB.
  log="fuzz/artifacts/$t.log"
  mkdir -p fuzz/artifacts
  if ! cargo fuzz run "${opts[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=1024 \
    -print_final_stats=1 >"$log" 2>&1; then
    tail -n 80 "$log" >&2
    echo "fuzz target $t failed: the input is under fuzz/artifacts/$t/ (full log: $log)" >&2
    exit 1
  fi
  { grep -E '^#[0-9]+' "$log" | tail -n 1; grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log"; } || true
done
echo "fuzz: ${#targets[@]} targets ran ${seconds} s each without a crash"
