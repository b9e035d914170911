//! The SQL proxy in pass-through mode, end to end: a real `strata serve` relaying to the real
//! PostgreSQL server of `STRATA_TEST_PG` (skipped with a notice when it is not set), driven by
//! real clients. The client's own credentials (SCRAM) go through to PostgreSQL.

mod support;

use std::net::{TcpListener, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use strata_warehouse::Warehouse;
use support::{Scenario, Server, message, sqlstate};

const SCHEMA: &str = "strata_proxy_e2e";

struct Pg {
    conninfo: String,
    host: String,
    port: u16,
    user: String,
    password: String,
    dbname: String,
}

fn pg() -> Option<&'static Pg> {
    static PG: OnceLock<Option<Pg>> = OnceLock::new();
    PG.get_or_init(|| {
        let Ok(conninfo) = std::env::var("STRATA_TEST_PG") else {
            eprintln!("NOTICE: STRATA_TEST_PG is not set; skipping the pass-through proxy tests");
            return None;
        };
        let field = |name: &str| {
            conninfo
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .unwrap_or("")
                .to_string()
        };
        let pg = Pg {
            host: field("host"),
            port: field("port").parse().unwrap_or(5432),
            user: field("user"),
            password: field("password"),
            dbname: field("dbname"),
            conninfo: conninfo.clone(),
        };
        // The demo's raw data and models in PostgreSQL, built once per test binary.
        let mut wh = strata_warehouse::Postgres::connect(&conninfo).expect("connect to STRATA_TEST_PG");
        strata_demo::load(&mut wh, 1).expect("load the demo data into PostgreSQL");
        let compiler = strata_server::compiler_for(
            support::demo_dir(),
            &strata_compile::Postgres,
            Some(SCHEMA.to_string()),
            None,
        )
        .unwrap();
        wh.execute(&format!("create schema if not exists {SCHEMA}")).unwrap();
        strata_materialize::build(&compiler, &mut wh).expect("build the demo models in PostgreSQL");
        Some(pg)
    })
    .as_ref()
}

fn start(pg: &Pg, upstream_port: u16, tls: bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let tls_lines = if tls {
        let (cert, key) = support::certificate(dir.path());
        format!("tls_cert = {cert:?}\ntls_key = {key:?}\n")
    } else {
        String::new()
    };
    let config = format!(
        r#"
[server]
{tls_lines}
[[environments]]
slug = "pgshop"
definitions = {demo:?}
schema = "{SCHEMA}"
[environments.warehouse]
kind = "postgres"
host = "{host}"
port = {upstream_port}
database = "{db}"
connect_timeout_secs = 3
"#,
        demo = support::demo_dir(),
        host = pg.host,
        db = pg.dbname,
    );
    Server::start(&config, dir)
}

#[test]
fn real_clients_through_the_relay() {
    let Some(pg) = pg() else { return };
    let server = start(pg, pg.port, true);
    support::run_all_clients(&Scenario {
        port: server.port,
        user: &pg.user,
        password: &pg.password,
        dbname: "pgshop",
        sslmode: "disable",
        metric_sql: "select * from {{ metrics.calculate(metric('revenue'), grain='month', dimensions=['country']) }}",
        metric_columns: "date_month,country,revenue",
        bad_sql: "select * from {{ metrics.calculate(metric('no_such_metric'), grain='month') }}",
        bad_sqlstate: "42P01",
        slow_sql: "select pg_sleep(60)",
        series_sql: "select generate_series(1, 5) as n",
    });
}

#[test]
fn relay_behaves_like_a_direct_connection() {
    let Some(pg) = pg() else { return };
    let server = start(pg, pg.port, false);
    let conninfo = server.conninfo(&pg.user, &pg.password, "pgshop");
    let mut client = postgres::Client::connect(&conninfo, postgres::NoTls).unwrap();
    let mut direct = postgres::Client::connect(&pg.conninfo, postgres::NoTls).unwrap();

    // dbt-SQL is compiled (postgres dialect) and gives what the compiled SQL gives directly.
    let sql = "select * from {{ metrics.calculate(metric('revenue'), grain='year') }} order by 1";
    let through = text_rows(&mut client, sql);
    let compiled = strata_server::compiler_for(
        support::demo_dir(),
        &strata_compile::Postgres,
        Some(SCHEMA.into()),
        None,
    )
    .unwrap()
    .compile(sql)
    .unwrap()
    .sql;
    assert_eq!(through, text_rows(&mut direct, &compiled));
    assert!(through.len() >= 3, "{through:?}");

    // Plain SQL, parameters, prepared statements used twice.
    let stmt = client.prepare("select $1::int * 2").unwrap();
    for i in [1, 21] {
        assert_eq!(client.query_one(&stmt, &[&i]).unwrap().get::<_, i32>(0), i * 2);
    }

    // Server-side errors come from PostgreSQL itself; compile errors from Strata; both leave
    // the connection usable.
    let e = client.query("select * from no_such_table", &[]).unwrap_err();
    assert_eq!(sqlstate(&e), "42P01");
    let e = client
        .query(
            "select * from {{ metrics.calculate(metric('nope'), grain='month') }}",
            &[],
        )
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42P01");
    assert!(message(&e).contains("nope"), "{e}");
    let e = client
        .simple_query("select * from {{ metrics.calculate(metric('revenue'), grain='fortnight') }}")
        .unwrap_err();
    assert_eq!(sqlstate(&e), "22023");
    assert_eq!(client.query_one("select 7", &[]).unwrap().get::<_, i32>(0), 7);

    // A transaction with an error inside is aborted, as with a direct connection.
    client.batch_execute("begin").unwrap();
    assert!(client.batch_execute("select 1/0").is_err());
    let e = client.batch_execute("select 1").unwrap_err();
    assert_eq!(sqlstate(&e), "25P02");
    client.batch_execute("rollback").unwrap();

    // COPY both ways.
    client
        .batch_execute("create temp table copied (id int, name text)")
        .unwrap();
    {
        use std::io::Write;
        let mut w = client.copy_in("copy copied from stdin").unwrap();
        for i in 0..1000 {
            writeln!(w, "{i}\tname {i}").unwrap();
        }
        w.finish().unwrap();
    }
    let mut out = String::new();
    {
        use std::io::Read;
        client
            .copy_out("copy (select count(*), sum(id) from copied) to stdout")
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
    }
    assert_eq!(out.trim(), "1000\t499500");

    // Cancel: forwarded to the upstream that issued the key.
    let token = client.cancel_token();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        token.cancel_query(postgres::NoTls).unwrap();
    });
    let started = Instant::now();
    let e = client.simple_query("select pg_sleep(30)").unwrap_err();
    canceller.join().unwrap();
    assert_eq!(sqlstate(&e), "57014", "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(client.query_one("select 8", &[]).unwrap().get::<_, i32>(0), 8);
}

/// A query's rows in text form (simple query protocol).
fn text_rows(client: &mut postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect()
}

#[test]
fn upstream_down_gives_an_error_at_once_and_recovers() {
    let Some(pg) = pg() else { return };
    // A port where nothing listens yet.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = start(pg, port, false);
    let conninfo = server.conninfo(&pg.user, &pg.password, "pgshop");
    let started = Instant::now();
    let e = postgres::Client::connect(&conninfo, postgres::NoTls)
        .err()
        .expect("the connection should be refused");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(sqlstate(&e), "08001", "{e}");
    assert!(message(&e).contains("could not connect to the upstream"), "{e}");

    // The upstream comes back (a forwarder to the real server on that port): new connections
    // work without restarting Strata.
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let target = (pg.host.clone(), pg.port);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = TcpStream::connect((target.0.as_str(), target.1)).unwrap();
            let (mut c1, mut u1) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut c1, &mut u1));
            let (mut c2, mut u2) = (client, upstream);
            std::thread::spawn(move || std::io::copy(&mut u2, &mut c2));
        }
    });
    let mut client = postgres::Client::connect(&conninfo, postgres::NoTls).unwrap();
    assert_eq!(client.query_one("select 5", &[]).unwrap().get::<_, i32>(0), 5);
}
