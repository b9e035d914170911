#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for Strata's tests and prints the line that points the
# tests at it:
#
#   eval "$(scripts/postgres.sh)"      # exports STRATA_TEST_PG
#   scripts/postgres.sh DIR PORT       # defaults: /tmp/strata-pg 55432
#
# Installs Debian's `postgresql` package when no server binaries are found (needs root), creates
# a cluster in DIR/data owned by the `postgres` user (trust over the Unix socket in DIR,
# scram-sha-256 over TCP; user `postgres`, password `postgres`), and starts it on 127.0.0.1:PORT
# with durability switched off (fsync, synchronous_commit): the data is disposable. Idempotent:
# a server already running on DIR is reused. Everything but the export line goes to stderr.
# Stop it with: pg_ctl -D DIR/data stop (as the postgres user), then remove DIR.
set -euo pipefail

dir="${1:-/tmp/strata-pg}"
port="${2:-55432}"
data="$dir/data"

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
  local d
  # Newest major version first.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

bindir="$(find_bindir || true)"
if [ -z "$bindir" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "PostgreSQL is not installed and installing it needs root"
    exit 1
  fi
  log "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bindir="$(find_bindir)" || { log "no initdb under /usr/lib/postgresql/*/bin after installing"; exit 1; }
fi
log "using $bindir"

# As root, the server runs as `postgres` (it refuses to run as root); otherwise as the caller.
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { log "there is no postgres user"; exit 1; }
  as_pg=(runuser -u postgres --)
  mkdir -p "$dir"
  chown postgres: "$dir"
else
  as_pg=()
  mkdir -p "$dir"
fi
chmod 700 "$dir"

pg() { "${as_pg[@]}" "$@"; }

if pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  # postmaster.pid's fourth line is the port the running server listens on.
  running_port="$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)"
  if [ -n "$running_port" ] && [ "$running_port" != "$port" ]; then
    log "a server is already running on $data with port $running_port; reusing it"
    port="$running_port"
  else
    log "a server is already running on $data; reusing it"
  fi
else
  if [ ! -f "$data/PG_VERSION" ]; then
    if [ -e "$data" ] && [ -n "$(ls -A "$data" 2>/dev/null)" ]; then
      log "$data exists, is not empty and is not a PostgreSQL cluster; remove it or pick another directory"
      exit 1
    fi
    log "creating a cluster in $data"
    pwfile="$dir/pwfile"
    echo postgres > "$pwfile"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$pwfile"
    pg "$bindir/initdb" -D "$data" -U postgres --pwfile="$pwfile" --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; rm -f "$pwfile"; exit 1; }
    rm -f "$pwfile"
  fi
  log "starting on 127.0.0.1:$port"
  if ! pg "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >&2; then
    log "the server did not start; its log:"
    tail -n 30 "$dir/server.log" >&2 || true
    exit 1
  fi
fi

# Whatever the cluster's history, the tests log in with this password.
pg "$bindir/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres \
  -c "ALTER USER postgres PASSWORD 'postgres'" >&2

echo "export STRATA_TEST_PG=\"host=127.0.0.1 port=$port user=postgres password=postgres dbname=postgres\""
