#!/usr/bin/env bash
# Compile-time and project-load benchmarks (criterion, release profile; no DuckDB build needed).
#   bench/compile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/strata/target-bench}"
cargo bench -p strata-compile --bench compile -- --noplot "$@"
cargo bench -p strata-manifest --bench load -- --noplot "$@"
