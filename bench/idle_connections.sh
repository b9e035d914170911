#!/usr/bin/env bash
# Resident memory of `strata serve` (engine mode, demo) with N idle client connections, each
# authenticated with SCRAM and holding its own DuckDB connection.
#
#   bench/idle_connections.sh [N]     # default 2000
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000}"
strata="${STRATA_BIN:-/var/cache/strata/target-bench/release/strata}"
[ -x "$strata" ] || strata="${CARGO_TARGET_DIR:-/var/cache/strata/target}/debug/strata"
demo="${BENCH_DEMO_DIR:-/tmp/strata-bench-idle-demo}"
port=55460
STRATA__SERVER__MAX_CONNECTIONS=$((n + 10)) "$strata" serve --demo-dir "$demo" --listen 127.0.0.1:$port >/tmp/strata-idle.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 600); do grep -q 'listening on' /tmp/strata-idle.log && break; sleep 0.1; done
echo "idle server: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
python3 - "$n" "$port" "$pid" <<'PY'
import sys, time, psycopg
n, port, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3]
started = time.monotonic()
conns = [psycopg.connect(f"host=127.0.0.1 port={port} dbname=demo user=strata password=strata") for _ in range(n)]
rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1]
print(f"{n} idle connections opened in {time.monotonic() - started:.1f} s; server RSS {int(rss) / 1024:.1f} MB")
assert conns[-1].execute("select count(*) from orders").fetchone()[0] > 0
assert conns[0].execute("select 1").fetchone()[0] == 1
PY
