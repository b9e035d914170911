#!/usr/bin/env python3
"""End-to-end client scenario for Strata, driven by psycopg 3.

    python3 tests/clients/python/scenario.py

Connection from STRATA_HOST, STRATA_PORT, STRATA_USER, STRATA_PASSWORD, STRATA_DBNAME,
STRATA_SSLMODE (disable | require); SQL from STRATA_METRIC_SQL, STRATA_METRIC_COLUMNS,
STRATA_BAD_SQL, STRATA_BAD_SQLSTATE, STRATA_SLOW_SQL (optional: empty skips the cancel step)
and STRATA_SERIES_SQL. See tests/clients/README.md.

Prints `ok <step>` (or `skip <step>`) per step on stdout; on failure prints `FAIL <step>: ...`
to stderr and exits 1 (2 when a step hangs past its deadline, 3 for a bad environment).
"""

import os
import sys
import threading
import time

STEP_DEADLINE_S = 30  # a step still running after this is a hang: the process exits
CANCEL_AFTER_S = 0.5
CANCEL_WITHIN_S = 10

current_step = "setup"


def fail(msg):
    print(f"FAIL {current_step}: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def ok(step):
    print(f"ok {step}", flush=True)


def env(name, required=True, default=None):
    value = os.environ.get(name, "")
    if value == "":
        if default is not None:
            return default
        if required:
            print(f"FAIL setup: environment variable {name} is not set", file=sys.stderr, flush=True)
            sys.exit(3)
    return value


class Step:
    """Names the running step and kills the process if it outlives its deadline."""

    def __init__(self, name, deadline=STEP_DEADLINE_S):
        self.name = name
        self.deadline = deadline

    def __enter__(self):
        global current_step
        current_step = self.name

        def hang():
            print(f"FAIL {self.name}: still running after {self.deadline} s", file=sys.stderr, flush=True)
            os._exit(2)

        self.timer = threading.Timer(self.deadline, hang)
        self.timer.daemon = True
        self.timer.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.timer.cancel()
        if exc_type is not None and not issubclass(exc_type, SystemExit):
            fail(f"{exc_type.__name__}: {exc}")
        if exc_type is None:
            ok(self.name)
        return False


def main():
    host = env("STRATA_HOST")
    port = env("STRATA_PORT")
    user = env("STRATA_USER")
    password = env("STRATA_PASSWORD", required=False)
    dbname = env("STRATA_DBNAME")
    sslmode = env("STRATA_SSLMODE", default="disable")
    if sslmode not in ("disable", "require"):
        print(f"FAIL setup: STRATA_SSLMODE must be disable or require, not {sslmode!r}", file=sys.stderr)
        sys.exit(3)
    metric_sql = env("STRATA_METRIC_SQL")
    metric_columns = [c.strip() for c in env("STRATA_METRIC_COLUMNS").split(",")]
    bad_sql = env("STRATA_BAD_SQL")
    bad_sqlstate = env("STRATA_BAD_SQLSTATE")
    slow_sql = env("STRATA_SLOW_SQL", required=False)
    series_sql = env("STRATA_SERIES_SQL")

    try:
        import psycopg
    except ImportError as e:
        print(f"FAIL setup: psycopg 3 is not importable ({e}); run scripts/clients.sh", file=sys.stderr)
        sys.exit(3)

    # a. connect
    with Step("connect"):
        conn = psycopg.connect(
            host=host,
            port=port,
            user=user,
            password=password,
            dbname=dbname,
            sslmode=sslmode,
            connect_timeout=10,
            application_name="strata-client-scenario-python",
            autocommit=True,
        )
        if sslmode == "require" and not conn.pgconn.ssl_in_use:
            fail("sslmode=require but the connection is not encrypted (pgconn.ssl_in_use is false)")
        if sslmode == "disable" and conn.pgconn.ssl_in_use:
            fail("sslmode=disable but the connection is encrypted")

    # b. select 1
    with Step("select_1"):
        rows = conn.execute("select 1").fetchall()
        if rows != [(1,)]:
            fail(f"select 1 returned {rows!r}, expected [(1,)]")

    # c. the metric query
    with Step("metric"):
        cur = conn.execute(metric_sql)
        if cur.description is None:
            fail("the metric query returned no result set")
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
        if names != metric_columns:
            fail(f"the metric query's columns are {names!r}, expected {metric_columns!r}")
        if len(rows) < 1:
            fail("the metric query returned no rows")

    # d. parameters, bound server-side (extended query protocol)
    with Step("params"):
        rows = conn.execute("select %s::integer + 1 as n", (41,)).fetchall()
        if rows != [(42,)]:
            fail(f"select 41::integer + 1 returned {rows!r}, expected [(42,)]")
        rows = conn.execute("select %s::text as s", ("O'Reilly",)).fetchall()
        if rows != [("O'Reilly",)]:
            fail(f"select 'O''Reilly'::text returned {rows!r}")
        # A named prepared statement (psycopg prepares by itself after 5 runs; force it here),
        # executed twice so the second run reuses the server-side statement.
        for i in (1, 2):
            rows = conn.execute("select %s::integer * 2 as n", (i,), prepare=True).fetchall()
            if rows != [(i * 2,)]:
                fail(f"prepared select {i}::integer * 2 returned {rows!r}, expected [({i * 2},)]")

    # e. an error, then the same connection still works
    with Step("error"):
        try:
            conn.execute(bad_sql).fetchall()
        except psycopg.Error as e:
            if e.sqlstate != bad_sqlstate:
                fail(f"the bad query failed with SQLSTATE {e.sqlstate!r} ({e}), expected {bad_sqlstate}")
        else:
            fail(f"the bad query succeeded; expected SQLSTATE {bad_sqlstate}")
        if conn.closed:
            fail("the connection was closed by the error")
        rows = conn.execute("select 2").fetchall()
        if rows != [(2,)]:
            fail(f"select 2 after the error returned {rows!r}, expected [(2,)]")

    # f. cancel a slow query through the driver's cancel API, then reuse the connection
    if slow_sql == "":
        current_step = "cancel"
        print("skip cancel", flush=True)
    else:
        with Step("cancel"):
            cancel_at = []
            cancel_error = []

            def do_cancel():
                cancel_at.append(time.monotonic())
                try:
                    conn.cancel()
                except Exception as e:  # noqa: BLE001 - reported by the main thread
                    cancel_error.append(e)

            timer = threading.Timer(CANCEL_AFTER_S, do_cancel)
            timer.daemon = True
            timer.start()
            try:
                conn.execute(slow_sql).fetchall()
            except psycopg.Error as e:
                ended = time.monotonic()
                timer.cancel()
                if cancel_error:
                    fail(f"conn.cancel() raised {cancel_error[0]!r}")
                if e.sqlstate != "57014":
                    fail(f"the slow query failed with SQLSTATE {e.sqlstate!r} ({e}), expected 57014")
                if not cancel_at:
                    fail("the slow query failed with 57014 before it was cancelled")
                waited = ended - cancel_at[0]
                if waited > CANCEL_WITHIN_S:
                    fail(f"the query ended {waited:.1f} s after the cancel, more than {CANCEL_WITHIN_S} s")
            else:
                timer.cancel()
                fail("the slow query completed; expected it to be cancelled with SQLSTATE 57014")
            rows = conn.execute("select 3").fetchall()
            if rows != [(3,)]:
                fail(f"select 3 after the cancel returned {rows!r}, expected [(3,)]")

    # g. the five-row series, in order (psycopg 3 has no portal row limits: a plain cursor)
    with Step("fetch"):
        with conn.cursor() as cur:
            cur.execute(series_sql)
            if cur.description is None or len(cur.description) != 1:
                fail(f"the series query should return one column, got {cur.description!r}")
            values = [r[0] for r in cur.fetchall()]
        if values != [1, 2, 3, 4, 5]:
            fail(f"the series query returned {values!r}, expected [1, 2, 3, 4, 5]")

    # h. close
    with Step("close"):
        conn.close()
        if not conn.closed:
            fail("the connection is still open after close()")


if __name__ == "__main__":
    main()
