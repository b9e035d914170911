#!/usr/bin/env bash
# Builds the release `strata` binaries the proxy benchmarks run (bench/proxy.sh,
# bench/proxy_engine.sh), in their own target directory so the test build's cache is untouched.
# The bundled DuckDB is compiled at -O1 here too (as in the dev profile): at -O3 the C++ build
# takes 40+ minutes on two cores. Expect about 20 minutes the first time.
#
#   bench/build_release.sh     # -> /var/cache/strata/target-bench/release/strata
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-/var/cache/strata/target-bench}"
cargo build --release -p strata --bins \
  --config 'profile.release.package.libduckdb-sys.opt-level=1' \
  --config 'profile.release.package.libduckdb-sys.debug=false'
echo "$CARGO_TARGET_DIR/release/strata"
