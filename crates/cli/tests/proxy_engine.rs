//! The SQL proxy in engine mode (embedded DuckDB), end to end: a real `strata serve` driven by
//! real clients (psql, psycopg, JDBC, node-postgres, and the Rust `postgres` crate) and by raw
//! sockets sending malformed input.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Scenario, Server, message, sqlstate};

const PASSWORD: &str = "s3cret-pw";
const METRIC_SQL: &str = "select * from {{ metrics.calculate(metric('revenue'), grain='month') }}";
/// Long enough to cancel (minutes), short to write.
const SLOW_SQL: &str = "select count(*) from range(1000000000000) t(i) where i % 7 = 3";

fn config(extra_server: &str, dir: &std::path::Path, tls: bool) -> String {
    let demo = support::demo_dir();
    let tls_lines = if tls {
        let (cert, key) = support::certificate(dir);
        format!("tls_cert = {:?}\ntls_key = {:?}\n", cert, key)
    } else {
        String::new()
    };
    format!(
        r#"
[server]
{tls_lines}{extra_server}

[[users]]
name = "alice"
password_hash = "{hash}"

[[environments]]
slug = "shop"
definitions = {demo:?}
[environments.warehouse]
kind = "duckdb"
path = {db:?}

[[environments]]
slug = "frozen"
semantic_layer = false
definitions = {demo:?}
[environments.warehouse]
kind = "duckdb"
path = {db:?}
"#,
        hash = support::hash_password(PASSWORD),
        db = demo.join("warehouse.duckdb"),
    )
}

fn start(extra_server: &str, tls: bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = config(extra_server, dir.path(), tls);
    Server::start(&config, dir)
}

fn connect(server: &Server, dbname: &str) -> Result<postgres::Client, postgres::Error> {
    postgres::Client::connect(&server.conninfo("alice", PASSWORD, dbname), postgres::NoTls)
}

#[test]
fn real_clients_plain_and_tls() {
    let server = start("", true);
    support::run_all_clients(&Scenario {
        port: server.port,
        user: "alice",
        password: PASSWORD,
        dbname: "shop",
        sslmode: "disable",
        metric_sql: METRIC_SQL,
        metric_columns: "date_month,revenue",
        bad_sql: "select * from {{ metrics.calculate(metric('no_such_metric'), grain='month') }}",
        bad_sqlstate: "42P01",
        slow_sql: SLOW_SQL,
        series_sql: "select i::integer as n from range(1, 6) t(i)",
    });
}

#[test]
fn metric_and_plain_queries_with_errors_in_between() {
    let server = start("", false);
    let mut client = connect(&server, "shop").unwrap();

    // The demo's orders: 10,000 at scale 1, all of them in the monthly revenue.
    let n: i64 = client
        .query_one("select count(*) from {{ ref('orders') }}", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 10_000);
    let rows = client.query(METRIC_SQL, &[]).unwrap();
    assert!(rows.len() > 12, "months of revenue: {}", rows.len());
    assert_eq!(rows[0].columns()[0].name(), "date_month");

    // Compile errors carry SQLSTATEs, and the connection stays usable after each.
    for (sql, code) in [
        (
            "select * from {{ metrics.calculate(metric('nope'), grain='month') }}",
            "42P01",
        ),
        ("select * from {{ ref('no_such_model') }}", "42P01"),
        (
            "select * from {{ metrics.calculate(metric('revenue'), grain='month', dimensions=['no_such_dim']) }}",
            "42703",
        ),
        (
            "select * from {{ metrics.calculate(metric('revenue'), grain='fortnight') }}",
            "22023",
        ),
        (
            "select * from {{ metrics.calculate(metric('revenue'), grain='month' }}",
            "42601",
        ),
        ("select * from no_such_table", "42P01"),
        ("select no_such_column from {{ ref('orders') }}", "42703"),
    ] {
        let e = client.simple_query(sql).unwrap_err();
        assert_eq!(sqlstate(&e), code, "{sql}: {e}");
        let e = client.query(sql, &[]).unwrap_err();
        assert_eq!(sqlstate(&e), code, "extended {sql}: {e}");
        let one: i32 = client.query_one("select 1::integer", &[]).unwrap().get(0);
        assert_eq!(one, 1);
    }

    // Several statements in one simple query.
    let messages = client.simple_query("select 1 as a; select 'x' as b, 2 as c").unwrap();
    let rows: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(rows, vec!["1", "x"]);

    // Parameters (binary int4 from this driver), and text parameters with quotes.
    let row = client
        .query_one("select $1::integer + 1 as n, $2::varchar as s", &[&41i32, &"O'Reilly"])
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    assert_eq!(row.get::<_, String>(1), "O'Reilly");
    // A metric query with a parameter in the outer query.
    let rows = client
        .query(
            "select date_month, revenue from {{ metrics.calculate(metric('revenue'), grain='month') }} where revenue > $1::double order by 1",
            &[&0f64],
        )
        .unwrap();
    assert!(!rows.is_empty());

    // A portal read two rows at a time.
    let mut tx = client.transaction().unwrap();
    let portal = tx
        .bind("select i::integer as n from range(1, 6) t(i) order by i", &[])
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let batch = tx.query_portal(&portal, 2).unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 2);
        seen.extend(batch.iter().map(|r| r.get::<_, i32>(0)));
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    tx.commit().unwrap();

    // COPY ... TO STDOUT (psql's \\copy): text format and CSV with a header.
    let copied = |client: &mut postgres::Client, sql: &str| {
        use std::io::Read;
        let mut text = String::new();
        client.copy_out(sql).unwrap().read_to_string(&mut text).unwrap();
        text
    };
    assert_eq!(
        copied(
            &mut client,
            "copy (select 'a\tb' as x, null as y, true as z, 1.5::double as f) to stdout"
        ),
        "a\\tb\t\\N\tt\t1.5\n"
    );
    let csv = copied(
        &mut client,
        "copy (select * from {{ metrics.calculate(metric('order_count'), grain='year') }} order by 1) to stdout with (format csv, header)",
    );
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("date_year,order_count"));
    let total: i64 = lines
        .map(|l| l.split(',').nth(1).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 10_000, "{csv}");
    let e = client
        .batch_execute("copy orders to '/tmp/strata-escape.csv'")
        .unwrap_err();
    assert!(e.as_db_error().is_some(), "COPY to a file is refused: {e}");

    // Session settings and what BI tools ask on connect.
    client
        .batch_execute("SET extra_float_digits = 3; SET application_name = 'test'")
        .unwrap();
    let v: String = client.query_one("SHOW application_name", &[]).unwrap().get(0);
    assert_eq!(v, "test");
    let v: String = client.query_one("show server_version", &[]).unwrap().get(0);
    assert!(v.starts_with("15"), "{v}");
    let v: String = client.query_one("select version()", &[]).unwrap().get(0);
    assert!(v.starts_with("PostgreSQL 15"), "{v}");
    let tables: Vec<String> = client
        .query(
            "select table_name::varchar from information_schema.tables order by 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.contains(&"orders".to_string()), "{tables:?}");
}

#[test]
fn psql_lists_tables_and_columns() {
    if !support::have_client("psql") {
        return;
    }
    let server = start("", false);
    let conninfo = format!("host=127.0.0.1 port={} user=alice dbname=shop", server.port);
    let psql = |command: &str| {
        let (ok, text) = support::psql(&conninfo, PASSWORD, &["-c", command]);
        assert!(ok, "psql {command}:\n{text}\nserver:\n{}", server.output());
        text
    };
    let tables = psql("\\dt");
    assert!(tables.contains("orders") && tables.contains("customers"), "{tables}");
    let all = psql("\\d");
    assert!(all.contains("orders"), "\\d lists the demo's relations:\n{all}");
    let columns = psql("\\d orders");
    assert!(columns.contains("order_id") && columns.contains("amount"), "{columns}");
}

/// What DBeaver and Metabase read on connect, through JDBC's DatabaseMetaData.
#[test]
fn jdbc_metadata_lists_tables_and_columns() {
    if !support::have_client("java") {
        return;
    }
    let server = start("", false);
    let out = std::process::Command::new("java")
        .args(["-cp", "/usr/share/java/postgresql.jar"])
        .arg(support::workspace().join("tests/clients/java/Metadata.java"))
        .arg(format!("jdbc:postgresql://127.0.0.1:{}/shop", server.port))
        .args(["alice", PASSWORD, "main", "orders"])
        .output()
        .unwrap();
    let text = support::output_text(&out);
    assert!(out.status.success(), "{text}\nserver:\n{}", server.output());
    for line in [
        "product PostgreSQL 15",
        "schema main",
        "table main.orders TABLE",
        "table main.stg_orders VIEW",
        "column order_id int8",
        "column amount numeric",
        "column ordered_at date",
        "column status varchar",
    ] {
        assert!(text.contains(line), "missing '{line}' in:\n{text}");
    }
}

#[test]
fn environments_by_database_options_and_sni() {
    let server = start("", true);
    // database
    connect(&server, "shop").unwrap();
    // options, when database names no environment
    let conninfo = format!(
        "{} options='-c strata.environment=shop'",
        server.conninfo("alice", PASSWORD, "analytics")
    );
    let mut c = postgres::Client::connect(&conninfo, postgres::NoTls).unwrap();
    c.simple_query("select 1").unwrap();
    // unknown environment and Semantic Layer off: FATAL with a clear message
    let e = connect(&server, "nowhere")
        .err()
        .expect("the connection should be refused");
    assert_eq!(sqlstate(&e), "3D000", "{e}");
    assert!(message(&e).contains("no environment with slug \"nowhere\""), "{e}");
    let e = connect(&server, "frozen")
        .err()
        .expect("the connection should be refused");
    assert_eq!(sqlstate(&e), "55000", "{e}");
    assert!(message(&e).contains("Semantic Layer is off"), "{e}");
    // wrong password
    let e = postgres::Client::connect(&server.conninfo("alice", "wrong", "shop"), postgres::NoTls)
        .err()
        .expect("the connection should be refused");
    assert_eq!(sqlstate(&e), "28P01", "{e}");
    let e = postgres::Client::connect(&server.conninfo("mallory", PASSWORD, "shop"), postgres::NoTls)
        .err()
        .expect("the connection should be refused");
    assert_eq!(sqlstate(&e), "28P01", "{e}");
    // SNI: psql with host=shop.proxy.localtest resolving to 127.0.0.1 and dbname of no environment.
    if support::have_client("psql") {
        let conninfo = format!(
            "host=shop.proxy.localtest hostaddr=127.0.0.1 port={} user=alice dbname=whatever sslmode=require",
            server.port
        );
        let (ok, text) = support::psql(
            &conninfo,
            PASSWORD,
            &["-A", "-t", "-c", "select count(*) from {{ ref('orders') }}"],
        );
        assert!(ok && text.trim() == "10000", "SNI routing:\n{text}");
    }
}

/// Raw socket helpers for protocol abuse.
fn startup_packet(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut p = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    p.extend_from_slice(&body);
    p
}

/// Reads until the server closes (or 10 s); returns everything it sent.
fn read_all(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// Logs in over a raw socket with cleartext password auth (the server must use `auth = "password"`).
fn raw_login(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&startup_packet(&[("user", "alice"), ("database", "shop")]))
        .unwrap();
    let mut header = [0u8; 9];
    s.read_exact(&mut header).unwrap();
    assert_eq!(header[0], b'R');
    assert_eq!(&header[5..9], &3i32.to_be_bytes(), "cleartext password requested");
    let mut msg = vec![b'p'];
    msg.extend_from_slice(&((4 + PASSWORD.len() + 1) as i32).to_be_bytes());
    msg.extend_from_slice(PASSWORD.as_bytes());
    msg.push(0);
    s.write_all(&msg).unwrap();
    // Read until ReadyForQuery.
    let mut seen = Vec::new();
    let mut buf = [0u8; 1];
    while !seen.ends_with(&[b'Z', 0, 0, 0, 5, b'I']) {
        s.read_exact(&mut buf).unwrap();
        seen.push(buf[0]);
    }
    s
}

/// Sends `bytes` and checks that the server's answer (up to its closing the connection)
/// contains `needle`.
fn expect_reply(mut s: TcpStream, bytes: &[u8], needle: &str) {
    s.write_all(bytes).unwrap();
    let reply = read_all(&mut s);
    assert!(
        reply.windows(needle.len()).any(|w| w == needle.as_bytes()),
        "expected {needle:?} in {:?}",
        String::from_utf8_lossy(&reply)
    );
}

#[test]
fn malformed_input_closes_only_that_connection() {
    let server = start("auth = \"password\"", false);
    let mut healthy = connect(&server, "shop").unwrap();

    // Garbage instead of a startup packet.
    let fresh = || TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    expect_reply(fresh(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "08P01");

    // A 1 GiB length prefix in the startup packet.
    expect_reply(fresh(), &[0x40, 0, 0, 0, 0, 3, 0, 0], "invalid startup packet length");

    // After login: a Query message announcing 1 GiB.
    expect_reply(raw_login(server.port), &[b'Q', 0x40, 0, 0, 0], "exceeds the limit");

    // After login: an unknown message type, then a Bind whose parameter is longer than the message.
    expect_reply(raw_login(server.port), &[0x01, 0, 0, 0, 4], "unknown message type");
    let mut bind = vec![b'B', 0, 0, 0, 0];
    bind.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0x10, 0]);
    let len = (bind.len() - 1) as i32;
    bind[1..5].copy_from_slice(&len.to_be_bytes());
    expect_reply(raw_login(server.port), &bind, "Bind parameter $1 has invalid length");

    // A truncated frame, then the client vanishes.
    let mut s = raw_login(server.port);
    s.write_all(&[b'Q', 0, 0, 0, 100, b's', b'e']).unwrap();
    drop(s);

    // Random bytes, many times.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..50 {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let bytes: Vec<u8> = (0..64)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let _ = s.write_all(&bytes);
        let _ = read_all(&mut s);
    }

    // The healthy connection, and new ones, still work.
    let n: i64 = healthy
        .query_one("select count(*) from {{ ref('customers') }}", &[])
        .unwrap()
        .get(0);
    assert!(n > 0);
    let mut fresh = connect(&server, "shop").unwrap();
    fresh.simple_query("select 1").unwrap();
}

#[test]
fn limits_and_timeouts() {
    let server = start(
        "max_connections = 2\nidle_timeout_secs = 2\nquery_timeout_secs = 2",
        false,
    );
    let mut a = connect(&server, "shop").unwrap();
    let _b = connect(&server, "shop").unwrap();
    let e = connect(&server, "shop")
        .err()
        .expect("the connection should be refused");
    assert_eq!(sqlstate(&e), "53300", "{e}");

    // Query timeout: 57014 after about two seconds, then the connection works.
    let started = Instant::now();
    let e = a.simple_query(SLOW_SQL).unwrap_err();
    assert_eq!(sqlstate(&e), "57014", "{e}");
    assert!(message(&e).contains("statement timeout"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(15));
    a.simple_query("select 1").unwrap();

    // Idle timeout: a silent connection is closed.
    std::thread::sleep(Duration::from_secs(3));
    assert!(a.simple_query("select 1").is_err(), "idle connection was not closed");
}

#[test]
fn sigterm_drains_running_queries() {
    let mut server = start("", false);
    let idle = connect(&server, "shop").unwrap();
    let mut c = connect(&server, "shop").unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        started_tx.send(()).unwrap();
        // One round trip (simple query), several seconds of work.
        c.simple_query("select count(*) from range(900000000) t(i) where i % 3 = 0")
            .map(|messages| {
                messages
                    .iter()
                    .find_map(|m| match m {
                        postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|v| v.parse::<i64>().ok()),
                        _ => None,
                    })
                    .unwrap_or(-1)
            })
    });
    started_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        server.terminate(Duration::from_secs(30)),
        "server did not exit cleanly:\n{}",
        server.output()
    );
    let counted = runner.join().unwrap();
    assert_eq!(
        counted.as_ref().ok(),
        Some(&300_000_000),
        "{counted:?}\nserver:\n{}",
        server.output()
    );
    drop(idle);
}
