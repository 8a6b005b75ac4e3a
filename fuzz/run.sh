#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after the other:
#   fuzz/run.sh [SECONDS] [TARGET...]        default 60 s per target, all targets
# Needs cargo-fuzz (`cargo install cargo-fuzz`); works on stable Rust through RUSTC_BOOTSTRAP,
# with AddressSanitizer, debug assertions and overflow checks. The corpus grows in
# fuzz/corpus/TARGET (seeded from fuzz/seeds/TARGET), crashes land in fuzz/artifacts/TARGET,
# each run's log in fuzz/logs/TARGET.log. Exits 1 if any target found a failure.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode broker_config client_config)
command -v cargo-fuzz >/dev/null || { echo "run.sh: needs cargo-fuzz: cargo install cargo-fuzz" >&2; exit 2; }
# cargo-fuzz passes -Z flags (sanitizer, coverage options) that stable rustc accepts only so.
export RUSTC_BOOTSTRAP=1
cargo fuzz build -a
mkdir -p logs
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t: ${seconds}s"
    if ! cargo fuzz run -a "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"logs/$t.log" 2>&1; then
        status=1
        echo "   FAILED: see fuzz/logs/$t.log and fuzz/artifacts/$t/"
    fi
    grep -E '^#[0-9]+.*(DONE|cov:)' "logs/$t.log" | tail -1 || true
    grep -E 'stat::(number_of_executed_units|average_exec_per_sec)' "logs/$t.log" || true
done
exit "$status"
