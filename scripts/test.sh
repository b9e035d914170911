#!/usr/bin/env bash
# Runs Strata's whole test suite: unit, snapshot, error and end-to-end tests, and the
# conformance cases on DuckDB and on a real PostgreSQL server.
#
#   scripts/test.sh
#
# PostgreSQL: uses $STRATA_TEST_PG when set; otherwise starts a throwaway server with
# scripts/postgres.sh (which installs Debian's postgresql package if needed; that needs root).
# Without root and without a server, the PostgreSQL tests print a notice and skip.
set -euo pipefail
cd "$(dirname "$0")/.."

# The bundled DuckDB is a long C++ build: keep the target directory outside the clone so
# later runs (and other clones) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/strata/target}"
mkdir -p "$CARGO_TARGET_DIR" 2>/dev/null || export CARGO_TARGET_DIR="$HOME/.cache/strata/target"

if [ -z "${STRATA_TEST_PG:-}" ]; then
  if pg_env="$(bash scripts/postgres.sh /tmp/strata-test-pg "${STRATA_TEST_PG_PORT:-55432}")"; then
    eval "$pg_env"
    export STRATA_TEST_PG
  else
    echo "NOTICE: could not start PostgreSQL; the PostgreSQL tests will skip" >&2
  fi
fi

cargo test --workspace --no-fail-fast

# The conformance runner as a user runs it, with its "N passed, M failed" lines.
strata="$CARGO_TARGET_DIR/debug/strata"
cases=()
[ -d ../shared/conformance/cases ] && cases+=(../shared/conformance/cases) \
  || echo "NOTICE: ../shared/conformance/cases not found; running Strata's own cases only" >&2
cases+=(tests/cases)
echo "conformance on DuckDB:"
"$strata" conformance "${cases[@]}"
if [ -n "${STRATA_TEST_PG:-}" ]; then
  echo "conformance on PostgreSQL:"
  "$strata" conformance --postgres "$STRATA_TEST_PG" "${cases[@]}"
fi
