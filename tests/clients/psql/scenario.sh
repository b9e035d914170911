#!/usr/bin/env bash
# End-to-end client scenario for Strata, driven by psql (PostgreSQL 15's client).
#
#   bash tests/clients/psql/scenario.sh
#
# Connection from STRATA_HOST, STRATA_PORT, STRATA_USER, STRATA_PASSWORD, STRATA_DBNAME,
# STRATA_SSLMODE (disable | require); SQL from STRATA_METRIC_SQL, STRATA_METRIC_COLUMNS,
# STRATA_BAD_SQL, STRATA_BAD_SQLSTATE, STRATA_SLOW_SQL (optional: empty skips the cancel step)
# and STRATA_SERIES_SQL. See tests/clients/README.md.
#
# Prints `ok <step>` (or `skip <step>`) per step on stdout; on failure prints
# `FAIL <step>: ...` (and psql's output) to stderr and exits 1 (2 when a step hangs past its
# deadline, 3 for a bad environment).
#
# psql speaks the simple query protocol only (psql 15 has no \bind), so the `params` step is
# skipped. Each step is its own psql session except where a step needs one connection for two
# queries (error, cancel): those run a script whose follow-up commands sit on the same line as
# the failing query, because a non-interactive psql stops reading its script at the next line
# after a Ctrl-C (and prints no more query results: `\gset` + `\echo` report the values).
set -uo pipefail

STEP_DEADLINE_S=30
CANCEL_AFTER_S=1 # timeout(1) starts counting before psql connects: leave it time to do so
CANCEL_WITHIN_S=10

step=setup
out=""
err=""
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL $step: $*" >&2
  if [ -s "$work/out" ]; then
    echo "--- psql stdout:" >&2
    cat "$work/out" >&2
  fi
  if [ -s "$work/err" ]; then
    echo "--- psql stderr:" >&2
    cat "$work/err" >&2
  fi
  exit 1
}

need() {
  if [ -z "${!1:-}" ]; then
    echo "FAIL setup: environment variable $1 is not set" >&2
    exit 3
  fi
}

for v in STRATA_HOST STRATA_PORT STRATA_USER STRATA_DBNAME STRATA_METRIC_SQL \
  STRATA_METRIC_COLUMNS STRATA_BAD_SQL STRATA_BAD_SQLSTATE STRATA_SERIES_SQL; do
  need "$v"
done
sslmode="${STRATA_SSLMODE:-disable}"
case "$sslmode" in
  disable | require) ;;
  *)
    echo "FAIL setup: STRATA_SSLMODE must be disable or require, not $sslmode" >&2
    exit 3
    ;;
esac
command -v psql >/dev/null 2>&1 || { echo "FAIL setup: psql is not on PATH" >&2; exit 3; }

# libpq reads the connection from these; nothing from ~/.psqlrc (-X), ~/.pgpass or a service.
unset PGSERVICE PGSERVICEFILE PGOPTIONS PGHOSTADDR
export PGHOST="$STRATA_HOST" PGPORT="$STRATA_PORT" PGUSER="$STRATA_USER"
export PGDATABASE="$STRATA_DBNAME" PGPASSWORD="${STRATA_PASSWORD:-}" PGSSLMODE="$sslmode"
export PGCONNECT_TIMEOUT=10 PGAPPNAME=strata-client-scenario-psql PGPASSFILE=/dev/null
export PGCLIENTENCODING=UTF8

# psql ARGS... : one psql session with a deadline; stdout in $out, stderr in $err, status in $rc.
psql_run() {
  timeout -k 5 "$STEP_DEADLINE_S" psql -X -w "$@" >"$work/out" 2>"$work/err"
  rc=$?
  out="$(cat "$work/out")"
  err="$(cat "$work/err")"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "FAIL $step: psql still running after $STEP_DEADLINE_S s" >&2
    exit 2
  fi
  return 0
}

# A SQL text as the head of a script line: trailing blanks and semicolons off, one `;` on.
terminated() {
  local sql="$1"
  while :; do
    case "$sql" in
      *[[:space:]] | *\;) sql="${sql%?}" ;;
      *) break ;;
    esac
  done
  printf '%s;' "$sql"
}

# a. connect
step=connect
psql_run -v ON_ERROR_STOP=1 -c '\conninfo'
[ "$rc" -eq 0 ] || fail "psql could not connect (exit $rc)"
case "$out" in
  *"You are connected"*) ;;
  *) fail "\\conninfo did not report a connection" ;;
esac
if [ "$sslmode" = require ]; then
  case "$out" in
    *"SSL connection"*) ;;
    *) fail "sslmode=require but \\conninfo reports no SSL connection" ;;
  esac
else
  case "$out" in
    *"SSL connection"*) fail "sslmode=disable but \\conninfo reports an SSL connection" ;;
  esac
fi
echo "ok connect"

# b. select 1
step=select_1
psql_run -v ON_ERROR_STOP=1 --csv -t -c 'select 1'
[ "$rc" -eq 0 ] || fail "select 1 failed (exit $rc)"
[ "$out" = 1 ] || fail "select 1 printed '$out', expected '1'"
echo "ok select_1"

# c. the metric query (sent as is by -c: no psql variable interpolation)
step=metric
psql_run -v ON_ERROR_STOP=1 --csv -c "$STRATA_METRIC_SQL"
[ "$rc" -eq 0 ] || fail "the metric query failed (exit $rc)"
header="$(head -n 1 "$work/out")"
want="$(printf '%s' "$STRATA_METRIC_COLUMNS" | tr -d '[:space:]')"
[ "$header" = "$want" ] || fail "the metric query's columns are '$header', expected '$want'"
[ "$(wc -l <"$work/out")" -ge 2 ] || fail "the metric query returned no rows"
echo "ok metric"

# d. parameters: psql 15 cannot bind parameters (\bind is psql 16)
step=params
echo "skip params"

# e. an error, then the same connection still works
step=error
script="$(terminated "$STRATA_BAD_SQL") \\echo error_sqlstate=:SQLSTATE \\\\ select 2 as two \\gset \\echo two=:two"
printf '%s\n' "$script" >"$work/error.sql"
psql_run -v ON_ERROR_STOP=0 -f "$work/error.sql"
got="$(printf '%s\n' "$out" | sed -n 's/^error_sqlstate=//p')"
[ -n "$got" ] || fail "psql printed no SQLSTATE for the bad query"
[ "$got" = "$STRATA_BAD_SQLSTATE" ] || fail "the bad query ended with SQLSTATE $got, expected $STRATA_BAD_SQLSTATE"
two="$(printf '%s\n' "$out" | sed -n 's/^two=//p')"
[ "$two" = 2 ] || fail "select 2 after the error gave '$two', expected 2"
echo "ok error"

# f. cancel: SIGINT makes psql send a CancelRequest on a new connection
step=cancel
if [ -z "${STRATA_SLOW_SQL:-}" ]; then
  echo "skip cancel"
else
  script="$(terminated "$STRATA_SLOW_SQL") \\echo cancel_sqlstate=:SQLSTATE \\\\ select 3 as three \\gset \\echo three=:three"
  printf '%s\n' "$script" >"$work/cancel.sql"
  start=$(date +%s%N)
  timeout -k "$STEP_DEADLINE_S" -s INT "$CANCEL_AFTER_S" \
    psql -X -w -v ON_ERROR_STOP=0 -f "$work/cancel.sql" >"$work/out" 2>"$work/err"
  rc=$?
  elapsed_ms=$((($(date +%s%N) - start) / 1000000))
  out="$(cat "$work/out")"
  err="$(cat "$work/err")"
  [ "$rc" -eq 137 ] && fail "psql was still running ${STEP_DEADLINE_S} s after its SIGINT (killed)"
  [ "$rc" -eq 124 ] || fail "psql ended (exit $rc) before it was interrupted after ${CANCEL_AFTER_S} s"
  case "$err" in
    *"Cancel request sent"*) ;;
    *) fail "psql did not send a cancel request" ;;
  esac
  got="$(printf '%s\n' "$out" | sed -n 's/^cancel_sqlstate=//p')"
  [ -n "$got" ] || fail "psql printed no SQLSTATE for the slow query"
  [ "$got" = 57014 ] || fail "the slow query ended with SQLSTATE $got, expected 57014"
  [ "$elapsed_ms" -le $(((CANCEL_AFTER_S + CANCEL_WITHIN_S) * 1000)) ] \
    || fail "the query ended ${elapsed_ms} ms after psql started, more than ${CANCEL_WITHIN_S} s after the cancel"
  three="$(printf '%s\n' "$out" | sed -n 's/^three=//p')"
  [ "$three" = 3 ] || fail "select 3 after the cancel gave '$three', expected 3"
  echo "ok cancel"
fi

# g. the five-row series, in order (psql reads the whole result; no FETCH_COUNT, which would
# need DECLARE CURSOR)
step=fetch
psql_run -v ON_ERROR_STOP=1 --csv -t -c "$STRATA_SERIES_SQL"
[ "$rc" -eq 0 ] || fail "the series query failed (exit $rc)"
values="$(printf '%s\n' "$out" | paste -sd ' ' -)"
[ "$values" = "1 2 3 4 5" ] || fail "the series query returned '$values', expected '1 2 3 4 5'"
echo "ok fetch"

# h. close: a session that quits by itself (psql sends Terminate) exits 0
step=close
psql_run -v ON_ERROR_STOP=1 -c 'select 1' -c '\q'
[ "$rc" -eq 0 ] || fail "psql did not exit cleanly (exit $rc)"
echo "ok close"
