#!/usr/bin/env bash
# A month-grain metric query with two dimensions and three secondary calculations on the demo
# project at 10 million orders, compiled by Strata, against a hand-written equivalent, in DuckDB.
#   bench/metrics_duckdb.sh [SCALE] [RUNS]     # defaults: 1000 (10 million orders), 7
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/strata/target}"
scale="${1:-1000}"
runs="${2:-7}"
dir="${BENCH_DIR:-/tmp/strata-bench-demo-$scale}"
cargo test --workspace --no-run  # the same build as scripts/test.sh, so DuckDB is built once
if [ ! -f "$dir/warehouse.duckdb" ]; then
  "$CARGO_TARGET_DIR/debug/strata" demo --dir "$dir" --scale "$scale"
fi
"$CARGO_TARGET_DIR/debug/strata-bench" "$dir" "$runs"
