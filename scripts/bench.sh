#!/usr/bin/env bash
# Whole-process benchmark (README "Performance"): builds the release binary and the harness,
# makes sure Python has `requests` for the baseline, then prints the table.
#   scripts/bench.sh                       # 1M records per drain, 3 runs, 500 idle tenants
#   scripts/bench.sh --records 200000 --runs 1 --only drain --only limit
# Hot functions have their own criterion benchmarks: cargo bench --bench hot
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin mimecast-collector --example bench
target="${CARGO_TARGET_DIR:-target}"
py=python3
if ! "$py" -c 'import requests' 2>/dev/null; then
    venv="$target/bench-venv"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    "$venv/bin/pip" install --quiet 'requests>=2.31,<3'
    py="$venv/bin/python"
fi
exec "$target/release/examples/bench" --bin "$target/release/mimecast-collector" --python "$py" "$@"
