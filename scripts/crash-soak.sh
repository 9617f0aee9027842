#!/usr/bin/env bash
# Longer crash soak than the CI test: more kills, a bigger backlog, release build. Faults are
# injected as in the CI test (429, 503, retryable fail[], truncated bodies; CRASH_FAULTS per
# route family).
#   scripts/crash-soak.sh [KILLS] [RECORDS_PER_STREAM] [SEED]
# Each simulated request takes CRASH_DELAY_MS (default here 50) so the drain outlasts the kills;
# each run must end within 180 s, which bounds the records per stream (README "Guarantees").
# Prints the seed and the figures (kills, records, lost, duplicated); exits non-zero on a loss
# or a duplicate.
set -euo pipefail
cd "$(dirname "$0")/.."
export CRASH_KILLS="${1:-200}"
export CRASH_RECORDS="${2:-3000}"
export CRASH_DELAY_MS="${CRASH_DELAY_MS:-50}"
# Every stream kind at once, siem_cg with all ten event types (several files per listing).
export CRASH_SIEM_TYPES="${CRASH_SIEM_TYPES:-all}"
# Kills stop when the backlog is drained: require at least this many to have landed mid-drain.
export CRASH_MIN_KILLS="${CRASH_MIN_KILLS:-50}"
if [ -n "${3:-}" ]; then export CRASH_SEED="$3"; fi
cargo test --release --locked --test crash sigkill_at_random_moments -- --nocapture 2>&1 | grep -E "crash test|test result|panicked"
