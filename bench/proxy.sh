#!/usr/bin/env bash
# Proxy overhead: pgbench against one PostgreSQL server reached three ways,
#
#   direct     127.0.0.1:55450  the server itself
#   pgbouncer  127.0.0.1:55451  PgBouncer, session pooling, scram-sha-256 auth
#   strata     127.0.0.1:55452  `strata serve` in pass-through mode (dbname = environment slug)
#
# and prints a markdown table of tps and average latency per target, workload and client count,
# then the per-query overhead at 1 client (latency − direct latency) and the 8-client throughput
# as a percentage of direct.
#
#   bench/proxy.sh                   # all three targets
#   bench/proxy.sh --no-strata       # direct vs PgBouncer only
#   DURATION=3 bench/proxy.sh        # seconds per pgbench run (default 10)
#
# Environment:
#   DURATION      seconds per pgbench run (default 10)
#   REPEAT        rounds of every run (default 1); the tables show the median tps of the rounds
#   SCALE         pgbench -i scale factor (default 10: 1M rows in pgbench_accounts)
#   STRATA_BIN    the strata binary (default /var/cache/strata/target-bench/release/strata, the
#                 release build made by bench/build_release.sh);
#                 when it does not exist the Strata rows are skipped with a notice
#   STRATA_WAIT   seconds to wait for Strata to accept queries (default 30)
#
# Workloads (each run for DURATION seconds, with -n: no vacuum before the run):
#   select-only  pgbench's built-in -S script (one random primary-key lookup on pgbench_accounts)
#   select 1     a custom script holding `select 1;` (pure round trip, no table access)
# with 1 client (-j 1) and 8 clients (-j 2), -M simple; `select 1` also with -M extended at 1 client.
#
# Starts a throwaway PostgreSQL with scripts/postgres.sh (installs it if needed), installs
# Debian's pgbouncer if missing (needs root), and stops/removes everything it started on exit,
# including on failure or Ctrl-C. Progress goes to stderr, the tables to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
repo="$(pwd)"

# --- settings -------------------------------------------------------------------------------

duration="${DURATION:-10}"
repeat="${REPEAT:-1}"
scale="${SCALE:-10}"
strata_wait="${STRATA_WAIT:-30}"
release_bin=/var/cache/strata/target-bench/release/strata # bench/build_release.sh
strata_bin="${STRATA_BIN:-$release_bin}"

pg_dir=/tmp/strata-bench-pg # the throwaway cluster (data, socket, log)
pg_port=55450
pgb_port=55451
strata_port=55452
db=strata_bench     # the pgbench database on the server (and its name in PgBouncer)
strata_db=bench     # what clients pass as dbname to Strata: the environment slug

run_strata=1
for arg in "$@"; do
  case "$arg" in
    --no-strata) run_strata=0 ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "proxy.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

log() { echo "proxy.sh: $*" >&2; }
die() { log "$*"; exit 1; }

for v in duration repeat scale strata_wait; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "${v^^} must be a positive whole number, not '${!v}'"
done

if [ "$run_strata" -eq 1 ] && [ ! -x "$strata_bin" ]; then
  log "NOTICE: no strata binary at $strata_bin (set STRATA_BIN, or run bench/build_release.sh);"
  log "NOTICE: running direct vs pgbouncer only"
  run_strata=0
fi

for tool in pgbench psql pg_isready; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian package postgresql-client)"
done

# Every client logs in as postgres/postgres over TCP, without TLS (none of the three targets is
# set up for it, and the SSLRequest round trip would only add to the connection time).
export PGUSER=postgres PGPASSWORD=postgres PGSSLMODE=disable PGCONNECT_TIMEOUT=5
unset PGHOST PGPORT PGDATABASE PGSERVICE PGOPTIONS || true

# As root, PostgreSQL and PgBouncer run as the `postgres` user (both refuse root).
if [ "$(id -u)" -eq 0 ]; then
  as_pg=(runuser -u postgres --)
else
  as_pg=()
fi
pg() { "${as_pg[@]}" "$@"; }

# Same lookup as scripts/postgres.sh: newest server version first.
pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  return 1
}

# True when something accepts connections (or at least answers) on 127.0.0.1:$1.
port_in_use() {
  local rc=0
  pg_isready -q -h 127.0.0.1 -p "$1" -t 2 || rc=$?
  [ "$rc" -ne 2 ] # 2 = no response
}

# --- cleanup (runs on every exit) -----------------------------------------------------------

work=""          # temp dir for PgBouncer's and Strata's files
pg_started=0     # 1 once we have started the PostgreSQL server
pgb_pidfile=""
strata_pid=""

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [ -n "$strata_pid" ] && kill -0 "$strata_pid" 2>/dev/null; then
    log "stopping strata (pid $strata_pid)"
    kill "$strata_pid"
    for _ in $(seq 50); do kill -0 "$strata_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$strata_pid" 2>/dev/null && kill -9 "$strata_pid"
    wait "$strata_pid" 2>/dev/null
  fi
  if [ -n "$pgb_pidfile" ] && [ -s "$pgb_pidfile" ]; then
    local pgb_pid
    pgb_pid="$(cat "$pgb_pidfile")"
    log "stopping pgbouncer (pid $pgb_pid)"
    kill "$pgb_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pgb_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pgb_pid" 2>/dev/null && kill -9 "$pgb_pid"
  fi
  if [ "$pg_started" -eq 1 ]; then
    log "stopping postgresql ($pg_dir)"
    pg "$(pg_bindir)/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1
    rm -rf "$pg_dir"
  fi
  [ -n "$work" ] && rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- refuse to benchmark someone else's server ---------------------------------------------

bindir="$(pg_bindir || true)"
if [ -n "$bindir" ] && [ -f "$pg_dir/data/postmaster.pid" ] \
  && pg "$bindir/pg_ctl" -D "$pg_dir/data" status >/dev/null 2>&1; then
  die "a server is already running on $pg_dir (left over from an interrupted run?); stop it with
  runuser -u postgres -- $bindir/pg_ctl -D $pg_dir/data stop && rm -rf $pg_dir"
fi
# A stopped cluster left by an interrupted run is reused (pgbench -i recreates its tables);
# anything else in the way is left alone.
if [ -e "$pg_dir" ] && [ ! -f "$pg_dir/data/PG_VERSION" ]; then
  die "$pg_dir exists and holds no PostgreSQL cluster; remove it first"
fi
ports=("$pg_port" "$pgb_port")
[ "$run_strata" -eq 1 ] && ports+=("$strata_port")
for p in "${ports[@]}"; do
  port_in_use "$p" && die "port $p is already in use on 127.0.0.1"
done

# --- PostgreSQL -----------------------------------------------------------------------------

log "starting PostgreSQL on 127.0.0.1:$pg_port"
pg_started=1 # from here on cleanup stops and removes it, even if postgres.sh fails half-way
eval "$(bash scripts/postgres.sh "$pg_dir" "$pg_port")"
: "${STRATA_TEST_PG:?scripts/postgres.sh printed no STRATA_TEST_PG}"
bindir="$(pg_bindir)"

direct_conn="host=127.0.0.1 port=$pg_port dbname=$db"
psql -X -q -h 127.0.0.1 -p "$pg_port" -d postgres -c "create database $db" >/dev/null
log "pgbench -i -s $scale $db"
pgbench -i -s "$scale" -q -h 127.0.0.1 -p "$pg_port" "$db" >"$pg_dir/pgbench-init.log" 2>&1 \
  || { cat "$pg_dir/pgbench-init.log" >&2; die "pgbench -i failed"; }

work="$(mktemp -d /tmp/strata-bench-proxy.XXXXXX)"
chmod 755 "$work"

# --- PgBouncer ------------------------------------------------------------------------------

pgbouncer_bin="$(command -v pgbouncer || true)"
[ -z "$pgbouncer_bin" ] && [ -x /usr/sbin/pgbouncer ] && pgbouncer_bin=/usr/sbin/pgbouncer
if [ -z "$pgbouncer_bin" ]; then
  [ "$(id -u)" -eq 0 ] || die "pgbouncer is not installed and installing it needs root"
  log "installing pgbouncer"
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when the package is unknown or the install fails.
  if ! apt-get install -y -qq pgbouncer >"$work/apt.log" 2>&1; then
    apt-get update -qq >>"$work/apt.log" 2>&1
    apt-get install -y -qq pgbouncer >>"$work/apt.log" 2>&1 \
      || { tail -n 20 "$work/apt.log" >&2; die "could not install pgbouncer"; }
  fi
  pgbouncer_bin=/usr/sbin/pgbouncer
fi

pgb_dir="$work/pgbouncer"
mkdir -p "$pgb_dir"
pgb_pidfile="$pgb_dir/pgbouncer.pid"
# The userlist holds the password in clear: PgBouncer then does SCRAM with the client and
# with the server (it can only forward a SCRAM login when it knows the password or its secret).
echo '"postgres" "postgres"' >"$pgb_dir/userlist.txt"
cat >"$pgb_dir/pgbouncer.ini" <<EOF
[databases]
$db = host=127.0.0.1 port=$pg_port dbname=$db

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $pgb_dir/userlist.txt
pool_mode = session
max_client_conn = 100
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
logfile = $pgb_dir/pgbouncer.log
pidfile = $pgb_pidfile
EOF
chmod 600 "$pgb_dir/userlist.txt"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$pgb_dir"
log "starting pgbouncer on 127.0.0.1:$pgb_port (session pooling)"
pg "$pgbouncer_bin" -d "$pgb_dir/pgbouncer.ini" >&2 \
  || { tail -n 20 "$pgb_dir/pgbouncer.log" >&2 || true; die "pgbouncer did not start"; }
pgb_conn="host=127.0.0.1 port=$pgb_port dbname=$db"

# --- Strata ---------------------------------------------------------------------------------

strata_conn="host=127.0.0.1 port=$strata_port dbname=$strata_db"
if [ "$run_strata" -eq 1 ]; then
  cat >"$work/strata.toml" <<EOF
[server]
listen = "127.0.0.1:$strata_port"

[[environments]]
slug = "$strata_db"
definitions = "$repo/crates/demo/project"

[environments.warehouse]
kind = "postgres"
host = "127.0.0.1"
port = $pg_port
database = "$db"
EOF
  log "starting strata ($strata_bin) on 127.0.0.1:$strata_port"
  "$strata_bin" serve --config "$work/strata.toml" >"$work/strata.log" 2>&1 &
  strata_pid=$!
fi

# --- wait until every target answers a query on the pgbench database ------------------------

# Waits up to $3 seconds for `select count(*) from pgbench_branches` through connection string $2
# to return the scale factor, so each target is known to reach the right database.
wait_ready() {
  local name="$1" conn="$2" timeout="$3" got="" start=$SECONDS
  while [ $((SECONDS - start)) -lt "$timeout" ]; do
    if [ "$name" = strata ] && ! kill -0 "$strata_pid" 2>/dev/null; then
      log "strata exited; its log:"
      tail -n 30 "$work/strata.log" >&2 || true
      die "strata did not start"
    fi
    got="$(psql -X -A -t -q "$conn" -c 'select count(*) from pgbench_branches' 2>/dev/null || true)"
    [ "$got" = "$scale" ] && return 0
    sleep 0.5
  done
  log "$name did not answer on '$conn' within ${timeout}s; last try:"
  psql -X -A -t -q "$conn" -c 'select count(*) from pgbench_branches' >&2 || true
  [ "$name" = strata ] && { log "strata's log:"; tail -n 30 "$work/strata.log" >&2 || true; }
  [ "$name" = pgbouncer ] && { log "pgbouncer's log:"; tail -n 30 "$pgb_dir/pgbouncer.log" >&2 || true; }
  die "$name is not usable"
}

targets=(direct pgbouncer)
[ "$run_strata" -eq 1 ] && targets+=(strata)
declare -A conn=([direct]="$direct_conn" [pgbouncer]="$pgb_conn" [strata]="$strata_conn")
wait_ready direct "$direct_conn" 10
wait_ready pgbouncer "$pgb_conn" 10
[ "$run_strata" -eq 1 ] && wait_ready strata "$strata_conn" "$strata_wait"
log "all targets ready: ${targets[*]}"

# --- the runs -------------------------------------------------------------------------------

echo 'select 1;' >"$work/select1.sql"

# Workloads: id, label, pgbench script arguments, query mode, client counts.
workloads=(
  "S-simple|select-only (-S), simple|-S|simple|1 8"
  "1-simple|select 1, simple|-f $work/select1.sql|simple|1 8"
  "1-extended|select 1, extended|-f $work/select1.sql|extended|1"
)

declare -A runs    # keyed "target|workload id|clients": the tps of each round, space-separated
declare -A tps lat # the same keys: median tps and the latency it gives, or "failed"
failed=0

# run_one ROUND TARGET WORKLOAD_ID SCRIPT_ARGS MODE CLIENTS: one pgbench run, its tps added to runs.
run_one() {
  local round="$1" target="$2" wid="$3" script="$4" mode="$5" clients="$6"
  local key="$target|$wid|$clients" out="$work/run-$target-$wid-$clients-$round.log"
  local threads=1 t=""
  [ "$clients" -gt 1 ] && threads=2
  [ "${runs[$key]:-}" = failed ] && return 0 # it failed in an earlier round: don't insist
  log "round $round/$repeat, $target: $wid, $clients client(s), ${duration}s"
  # shellcheck disable=SC2086 # $script is deliberately split into options
  if pgbench -n $script -M "$mode" -c "$clients" -j "$threads" -T "$duration" \
    "${conn[$target]}" >"$out" 2>&1; then
    # "tps = 38658.123456 (without initial connection time)"
    t="$(awk '/^tps = / { print $3; exit }' "$out")"
  fi
  if [ -z "$t" ] || grep -q '^number of failed transactions: [1-9]' "$out"; then
    log "$target: $wid with $clients client(s) failed; pgbench said:"
    tail -n 15 "$out" >&2 || true
    runs[$key]=failed
    failed=$((failed + 1))
    return 0
  fi
  runs[$key]="${runs[$key]:-} $t"
}

# Round by round and workload by workload, the targets one after the other, so that background
# load on the machine weighs on all of them about equally.
for round in $(seq "$repeat"); do
  for w in "${workloads[@]}"; do
    IFS='|' read -r wid _label script mode clients_list <<<"$w"
    for clients in $clients_list; do
      for target in "${targets[@]}"; do
        run_one "$round" "$target" "$wid" "$script" "$mode" "$clients"
      done
    done
  done
done

# Median tps over the rounds; the average latency is clients / tps. (pgbench's own "latency
# average" is the same quantity, clients × run time / transactions, but printed rounded to
# 1 µs; tps comes with 6 decimals and keeps the sub-µs differences.)
for key in "${!runs[@]}"; do
  if [ "${runs[$key]}" = failed ]; then
    tps[$key]=failed
    lat[$key]=failed
    continue
  fi
  clients="${key##*|}"
  [ "$repeat" -gt 1 ] && log "tps per round, $key:${runs[$key]}"
  tps[$key]="$(printf '%s\n' ${runs[$key]} | sort -g \
    | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
  lat[$key]="$(awk -v c="$clients" -v t="${tps[$key]}" 'BEGIN { printf "%.1f", c * 1e6 / t }')"
done

# --- report ---------------------------------------------------------------------------------

fmt_tps() { [ "$1" = failed ] && echo failed || awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
# diff_us A B: A − B with a sign, or n/a
diff_us() {
  case "$1$2" in *failed* | "") echo n/a ;; *) awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", a - b }' ;; esac
}
# pct A B: A as % of B, or n/a
pct() {
  case "$1$2" in *failed* | "") echo n/a ;; *) awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f %%", 100 * a / b }' ;; esac
}

pg_version="$(psql -X -A -t -q "$direct_conn" -c 'show server_version' | cut -d' ' -f1)"
pgb_version="$("$pgbouncer_bin" --version | head -n 1)"
echo "## Proxy overhead, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end;" \
  "PostgreSQL $pg_version, $pgb_version (session pooling)$([ "$run_strata" -eq 1 ] && echo ", strata $strata_bin");" \
  "pgbench -s $scale, ${duration}s per run$([ "$repeat" -gt 1 ] && echo ", median of $repeat rounds")"
echo
echo "| target | workload | clients | tps | latency (µs) |"
echo "| --- | --- | ---: | ---: | ---: |"
for w in "${workloads[@]}"; do
  IFS='|' read -r wid label _script _mode clients_list <<<"$w"
  for clients in $clients_list; do
    for target in "${targets[@]}"; do
      key="$target|$wid|$clients"
      echo "| $target | $label | $clients | $(fmt_tps "${tps[$key]}") | ${lat[$key]} |"
    done
  done
done

echo
echo "Per-query overhead at 1 client (latency − direct latency, µs):"
echo
echo "| workload | strata | pgbouncer |"
echo "| --- | ---: | ---: |"
for w in "${workloads[@]}"; do
  IFS='|' read -r wid label _ <<<"$w"
  d="${lat[direct|$wid|1]}"
  s="n/a"
  [ "$run_strata" -eq 1 ] && s="$(diff_us "${lat[strata|$wid|1]}" "$d")"
  echo "| $label | $s | $(diff_us "${lat[pgbouncer|$wid|1]}" "$d") |"
done

echo
echo "Throughput at 8 clients as % of direct:"
echo
echo "| workload | strata | pgbouncer |"
echo "| --- | ---: | ---: |"
for w in "${workloads[@]}"; do
  IFS='|' read -r wid label _script _mode clients_list <<<"$w"
  case " $clients_list " in *" 8 "*) ;; *) continue ;; esac
  d="${tps[direct|$wid|8]}"
  s="n/a"
  [ "$run_strata" -eq 1 ] && s="$(pct "${tps[strata|$wid|8]}" "$d")"
  echo "| $label | $s | $(pct "${tps[pgbouncer|$wid|8]}" "$d") |"
done

if [ "$failed" -gt 0 ]; then
  log "$failed run(s) failed (marked 'failed' above); their pgbench output was shown on stderr"
  exit 1
fi
