// End-to-end client scenario for Strata, driven by the PostgreSQL JDBC driver (pgjdbc).
//
//   java -cp /usr/share/java/postgresql.jar tests/clients/java/Scenario.java
//
// (Java 11+ source-launcher mode: nothing to compile by hand.) Connection from STRATA_HOST,
// STRATA_PORT, STRATA_USER, STRATA_PASSWORD, STRATA_DBNAME, STRATA_SSLMODE (disable | require);
// SQL from STRATA_METRIC_SQL, STRATA_METRIC_COLUMNS, STRATA_BAD_SQL, STRATA_BAD_SQLSTATE,
// STRATA_SLOW_SQL (optional: empty skips the cancel step) and STRATA_SERIES_SQL. See
// tests/clients/README.md.
//
// Prints `ok <step>` (or `skip <step>`) per step on stdout; on failure prints
// `FAIL <step>: ...` to stderr and exits 1 (2 when a step hangs past its deadline, 3 for a bad
// environment).

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.Timer;
import java.util.TimerTask;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

public class Scenario {
    static final long STEP_DEADLINE_MS = 30_000;
    static final long CANCEL_AFTER_MS = 500;
    static final long CANCEL_WITHIN_MS = 10_000;

    static String currentStep = "setup";
    static final Timer watchdog = new Timer("watchdog", true);
    static TimerTask deadline;

    static class Failure extends RuntimeException {
        Failure(String message) {
            super(message);
        }
    }

    static Failure fail(String message) {
        return new Failure(message);
    }

    static void begin(String step) {
        currentStep = step;
        final String name = step;
        deadline = new TimerTask() {
            @Override
            public void run() {
                System.err.println("FAIL " + name + ": still running after " + STEP_DEADLINE_MS / 1000 + " s");
                System.err.flush();
                Runtime.getRuntime().halt(2);
            }
        };
        watchdog.schedule(deadline, STEP_DEADLINE_MS);
    }

    static void ok() {
        deadline.cancel();
        System.out.println("ok " + currentStep);
        System.out.flush();
    }

    static String env(String name, boolean required, String dflt) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) {
            if (dflt != null) return dflt;
            if (required) {
                System.err.println("FAIL setup: environment variable " + name + " is not set");
                System.exit(3);
            }
            return "";
        }
        return v;
    }

    static int singleInt(Statement st, String sql) throws SQLException {
        try (ResultSet rs = st.executeQuery(sql)) {
            if (!rs.next()) throw fail(sql + " returned no rows");
            int v = rs.getInt(1);
            if (rs.next()) throw fail(sql + " returned more than one row");
            return v;
        }
    }

    static String describe(SQLException e) {
        return "SQLSTATE " + e.getSQLState() + " (" + e.getMessage() + ")";
    }

    public static void main(String[] args) {
        try {
            run();
        } catch (Failure f) {
            System.err.println("FAIL " + currentStep + ": " + f.getMessage());
            System.exit(1);
        } catch (SQLException e) {
            System.err.println("FAIL " + currentStep + ": " + e.getClass().getName() + ": " + describe(e));
            System.exit(1);
        } catch (Exception e) {
            System.err.println("FAIL " + currentStep + ": " + e);
            System.exit(1);
        }
        System.exit(0);
    }

    static void run() throws Exception {
        String host = env("STRATA_HOST", true, null);
        String port = env("STRATA_PORT", true, null);
        String user = env("STRATA_USER", true, null);
        String password = env("STRATA_PASSWORD", false, null);
        String dbname = env("STRATA_DBNAME", true, null);
        String sslmode = env("STRATA_SSLMODE", false, "disable");
        if (!sslmode.equals("disable") && !sslmode.equals("require")) {
            System.err.println("FAIL setup: STRATA_SSLMODE must be disable or require, not " + sslmode);
            System.exit(3);
        }
        String metricSql = env("STRATA_METRIC_SQL", true, null);
        List<String> metricColumns = new ArrayList<>();
        for (String c : env("STRATA_METRIC_COLUMNS", true, null).split(",", -1)) metricColumns.add(c.trim());
        String badSql = env("STRATA_BAD_SQL", true, null);
        String badSqlstate = env("STRATA_BAD_SQLSTATE", true, null);
        String slowSql = env("STRATA_SLOW_SQL", false, null);
        String seriesSql = env("STRATA_SERIES_SQL", true, null);

        // a. connect. With sslmode=require pgjdbc refuses a server that declines SSL ("The
        // server does not support SSL"), so a connection here is an encrypted one; the
        // certificate is not verified (require, not verify-ca).
        begin("connect");
        try {
            Class.forName("org.postgresql.Driver");
        } catch (ClassNotFoundException e) {
            throw fail("org.postgresql.Driver not on the classpath; run with -cp /usr/share/java/postgresql.jar");
        }
        Properties props = new Properties();
        props.setProperty("user", user);
        props.setProperty("password", password);
        props.setProperty("sslmode", sslmode);
        props.setProperty("connectTimeout", "10");
        props.setProperty("ApplicationName", "strata-client-scenario-java");
        String url = "jdbc:postgresql://" + host + ":" + port + "/" + dbname;
        Connection conn = DriverManager.getConnection(url, props);
        if (!conn.getAutoCommit()) throw fail("a new connection is not in autocommit mode");
        ok();

        // b. select 1
        begin("select_1");
        try (Statement st = conn.createStatement()) {
            int v = singleInt(st, "select 1");
            if (v != 1) throw fail("select 1 returned " + v);
        }
        ok();

        // c. the metric query
        begin("metric");
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(metricSql)) {
            ResultSetMetaData md = rs.getMetaData();
            List<String> names = new ArrayList<>();
            for (int i = 1; i <= md.getColumnCount(); i++) names.add(md.getColumnLabel(i));
            if (!names.equals(metricColumns))
                throw fail("the metric query's columns are " + names + ", expected " + metricColumns);
            if (!rs.next()) throw fail("the metric query returned no rows");
        }
        ok();

        // d. parameters through PreparedStatement (extended query protocol). Run 6 times: pgjdbc
        // switches to a named server-side statement at the 5th execution (prepareThreshold=5).
        begin("params");
        try (PreparedStatement ps = conn.prepareStatement("select ?::integer + 1 as n")) {
            for (int i = 0; i < 6; i++) {
                ps.setInt(1, 41 + i);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) throw fail("select ?::integer + 1 returned no rows (run " + (i + 1) + ")");
                    int v = rs.getInt("n");
                    if (v != 42 + i) throw fail("select " + (41 + i) + "::integer + 1 returned " + v + " (run " + (i + 1) + ")");
                    if (rs.next()) throw fail("select ?::integer + 1 returned more than one row");
                }
            }
        }
        try (PreparedStatement ps = conn.prepareStatement("select ?::text as s")) {
            ps.setString(1, "O'Reilly");
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) throw fail("select ?::text returned no rows");
                String s = rs.getString("s");
                if (!"O'Reilly".equals(s)) throw fail("select 'O''Reilly'::text returned " + s);
            }
        }
        ok();

        // e. an error, then the same connection still works
        begin("error");
        try (Statement st = conn.createStatement()) {
            try (ResultSet rs = st.executeQuery(badSql)) {
                throw fail("the bad query succeeded; expected SQLSTATE " + badSqlstate);
            } catch (SQLException e) {
                if (!badSqlstate.equals(e.getSQLState()))
                    throw fail("the bad query failed with " + describe(e) + ", expected " + badSqlstate);
            }
            if (conn.isClosed()) throw fail("the connection was closed by the error");
            int v = singleInt(st, "select 2");
            if (v != 2) throw fail("select 2 after the error returned " + v);
        }
        ok();

        // f. cancel a slow query with Statement.cancel() from another thread
        if (slowSql.isEmpty()) {
            currentStep = "cancel";
            System.out.println("skip cancel");
        } else {
            begin("cancel");
            try (Statement st = conn.createStatement()) {
                AtomicLong cancelledAt = new AtomicLong(0);
                AtomicReference<Exception> cancelError = new AtomicReference<>();
                Thread canceller = new Thread(() -> {
                    try {
                        Thread.sleep(CANCEL_AFTER_MS);
                        cancelledAt.set(System.nanoTime());
                        st.cancel();
                    } catch (Exception e) {
                        cancelError.set(e);
                    }
                }, "canceller");
                canceller.setDaemon(true);
                canceller.start();
                try (ResultSet rs = st.executeQuery(slowSql)) {
                    throw fail("the slow query completed; expected it to be cancelled with SQLSTATE 57014");
                } catch (SQLException e) {
                    long ended = System.nanoTime();
                    canceller.join(5_000);
                    if (cancelError.get() != null) throw fail("Statement.cancel() threw " + cancelError.get());
                    if (!"57014".equals(e.getSQLState()))
                        throw fail("the slow query failed with " + describe(e) + ", expected 57014");
                    if (cancelledAt.get() == 0) throw fail("the slow query failed with 57014 before it was cancelled");
                    long waitedMs = (ended - cancelledAt.get()) / 1_000_000;
                    if (waitedMs > CANCEL_WITHIN_MS)
                        throw fail("the query ended " + waitedMs + " ms after the cancel, more than " + CANCEL_WITHIN_MS + " ms");
                }
            }
            try (Statement st = conn.createStatement()) {
                int v = singleInt(st, "select 3");
                if (v != 3) throw fail("select 3 after the cancel returned " + v);
            }
            ok();
        }

        // g. a portal read 2 rows at a time: pgjdbc sends Execute with a row limit of 2 (and
        // gets PortalSuspended) when autocommit is off and a fetch size is set.
        begin("fetch");
        conn.setAutoCommit(false);
        try (Statement st = conn.createStatement()) {
            st.setFetchSize(2);
            List<Integer> values = new ArrayList<>();
            try (ResultSet rs = st.executeQuery(seriesSql)) {
                if (rs.getMetaData().getColumnCount() != 1)
                    throw fail("the series query should return one column, got " + rs.getMetaData().getColumnCount());
                if (rs.getFetchSize() != 2) throw fail("the result set's fetch size is " + rs.getFetchSize() + ", not 2");
                while (rs.next()) values.add(rs.getInt(1));
            }
            List<Integer> want = Arrays.asList(1, 2, 3, 4, 5);
            if (!values.equals(want)) throw fail("the series query returned " + values + ", expected " + want);
        }
        conn.commit();
        conn.setAutoCommit(true);
        ok();

        // h. close
        begin("close");
        conn.close();
        if (!conn.isClosed()) throw fail("the connection is still open after close()");
        ok();
    }
}
