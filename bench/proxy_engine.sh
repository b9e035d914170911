#!/usr/bin/env bash
# Engine mode's own cost: a metric query through the SQL proxy (real client over TCP) against
# the same compiled SQL run by DuckDB directly, in one process, on the demo warehouse.
#
#   bench/proxy_engine.sh [SCALE] [RUNS]     # defaults: 1 (10,000 orders), 200
#
# Uses the release build of bench/build_release.sh (BENCH_BIN overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-1}"
runs="${2:-200}"
bin="${BENCH_BIN:-/var/cache/strata/target-bench/release/strata-proxy-bench}"
strata="$(dirname "$bin")/strata"
[ -x "$bin" ] || { echo "no $bin: run bench/build_release.sh first" >&2; exit 1; }
dir="${BENCH_DIR:-/tmp/strata-bench-engine-$scale}"
[ -f "$dir/warehouse.duckdb" ] || "$strata" demo --dir "$dir" --scale "$scale" >/dev/null
"$bin" "$dir" "$runs"
