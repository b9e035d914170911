#!/usr/bin/env bash
# Peak resident memory of `strata serve` while a client reads 10 million rows through the
# SQL proxy, in engine mode (DuckDB demo) and, when STRATA_TEST_PG is set, in pass-through
# mode (PostgreSQL's generate_series). The client (psycopg 3, streaming) runs in its own
# process, so only the server's memory is counted.
#
#   bench/stream_memory.sh [ROWS]        # default 10000000
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-10000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/strata/target}"
strata="${STRATA_BIN:-$CARGO_TARGET_DIR/debug/strata}"
[ -x "$strata" ] || cargo build -p strata --bin strata
python3 -c "import psycopg" 2>/dev/null || bash scripts/clients.sh
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

stream() { # conninfo sql
  python3 - "$1" "$2" <<'PY'
import sys, time, psycopg
conninfo, sql = sys.argv[1], sys.argv[2]
with psycopg.connect(conninfo) as conn:
    started = time.monotonic()
    n = 0
    for _ in conn.cursor().stream(sql):
        n += 1
    print(f"{n} rows in {time.monotonic() - started:.1f} s")
PY
}

serve() { # config-file
  "$strata" serve --config "$1" --listen 127.0.0.1:0 >"$work/out" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    port="$(sed -n 's/^Strata SQL proxy listening on .*:\([0-9]*\)$/\1/p' "$work/out")"
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  cat "$work/out" >&2; exit 1
}

report() { # label
  local rss hwm
  rss="$(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
  hwm="$(awk '/VmHWM/ {print $2}' /proc/$pid/status)"
  printf '%-14s peak RSS %6.1f MB (now %6.1f MB)\n' "$1" "$(echo "$hwm/1024" | bc -l)" "$(echo "$rss/1024" | bc -l)"
}

demo="${BENCH_DEMO_DIR:-/tmp/strata-bench-stream-demo}"
[ -f "$demo/warehouse.duckdb" ] || "$strata" demo --dir "$demo" >/dev/null
hash="$("$strata" hash-password bench)"
cat >"$work/engine.toml" <<TOML
[[users]]
name = "bench"
password_hash = "$hash"
[[environments]]
slug = "demo"
definitions = "$demo"
[environments.warehouse]
kind = "duckdb"
path = "$demo/warehouse.duckdb"
TOML
serve "$work/engine.toml"
report "engine idle"
stream "host=127.0.0.1 port=$port user=bench password=bench dbname=demo" \
  "select i, i * 2 as twice, 'row number ' || i as label from range($rows) t(i)"
report "engine after"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

if [ -n "${STRATA_TEST_PG:-}" ]; then
  field() { echo "$STRATA_TEST_PG" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  cat >"$work/relay.toml" <<TOML
[[environments]]
slug = "pg"
definitions = "$demo"
[environments.warehouse]
kind = "postgres"
host = "$(field host)"
port = $(field port)
database = "$(field dbname)"
TOML
  serve "$work/relay.toml"
  report "relay idle"
  stream "host=127.0.0.1 port=$port user=$(field user) password=$(field password) dbname=pg" \
    "select i, i * 2 as twice, 'row number ' || i as label from generate_series(1, $rows) i"
  report "relay after"
fi
