//! Engine-mode overhead: a metric query through the SQL proxy (a real client over TCP,
//! extended protocol, all rows read) against the same compiled SQL run by DuckDB directly,
//! in one process on the same database file. Also times `select 1` through the proxy.
//! Used by `bench/proxy_engine.sh`.
//!
//!   strata-proxy-bench <demo dir> [runs]

use std::time::{Duration, Instant};

use strata_warehouse::{DuckDb, Warehouse};

const METRIC_QUERY: &str =
    "select * from {{ metrics.calculate(metric('revenue'), grain='month', dimensions=['country']) }}";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: strata-proxy-bench <demo dir> [runs]"));
    let runs: usize = args.next().map(|r| r.parse().expect("runs")).unwrap_or(200);
    let mut config = strata_server::config::load(None, []).expect("config");
    config.server.listen = "127.0.0.1:0".into();
    let config = strata_server::demo_config(config, &dir).expect("demo config");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(strata_server::Server::bind(&config)).expect("bind");
    let port = server.local_addr.port();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = runtime.spawn(server.run(async {
        let _ = stop_rx.await;
    }));

    let compiled = strata_server::compiler_for(&dir, &strata_compile::DuckDb, None, None)
        .unwrap()
        .compile(METRIC_QUERY)
        .unwrap()
        .sql;
    let mut direct = DuckDb::open_for_serving(&dir.join("warehouse.duckdb")).expect("open DuckDB");
    let run_direct = |db: &mut DuckDb| {
        let mut rows = 0;
        db.query_each(&compiled, &mut |_| {}, &mut |_| {
            rows += 1;
            Ok(())
        })
        .unwrap();
        rows
    };
    let conninfo = format!(
        "host=127.0.0.1 port={port} user={} password={} dbname={}",
        strata_server::DEMO_USER,
        strata_server::DEMO_PASSWORD,
        strata_server::DEMO_SLUG
    );
    let mut client = postgres::Client::connect(&conninfo, postgres::NoTls).expect("connect");
    // Prepared once and reused, as JDBC and psycopg do with named statements: each run is then
    // Bind/Describe/Execute/Sync (rust-postgres would otherwise Parse and Describe every time).
    let prepared = client.prepare(METRIC_QUERY).expect("prepare");
    // Warm up both paths.
    for _ in 0..10 {
        run_direct(&mut direct);
        client.query(&prepared, &[]).unwrap();
    }
    let (mut through, mut plain, mut inproc, mut one) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut one_direct = Vec::new();
    let mut rows = (0, 0);
    for _ in 0..runs {
        // Interleaved, so both see the same machine load.
        let t = Instant::now();
        rows.0 = run_direct(&mut direct);
        inproc.push(t.elapsed());
        let t = Instant::now();
        rows.1 = client.query(&prepared, &[]).unwrap().len();
        through.push(t.elapsed());
        let t = Instant::now();
        client.simple_query(METRIC_QUERY).unwrap();
        plain.push(t.elapsed());
        let t = Instant::now();
        client.simple_query("select 1").unwrap();
        one.push(t.elapsed());
        let t = Instant::now();
        direct.query_each("select 1", &mut |_| {}, &mut |_| Ok(())).unwrap();
        one_direct.push(t.elapsed());
    }
    assert_eq!(rows.0, rows.1, "same rows both ways");
    let (d, e, s, o) = (median(inproc), median(through), median(plain), median(one));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("metric query ({} rows), median of {runs} runs:", rows.0);
    println!("  DuckDB directly, compiled SQL            {:>9.3} ms", ms(d));
    println!("  through the proxy, prepared statement    {:>9.3} ms", ms(e));
    println!("  through the proxy, simple query          {:>9.3} ms", ms(s));
    println!("  proxy overhead, prepared statement       {:>9.3} ms", ms(e) - ms(d));
    println!("  proxy overhead, simple query             {:>9.3} ms", ms(s) - ms(d));
    println!("select 1:");
    println!(
        "  DuckDB directly                          {:>9.3} ms",
        ms(median(one_direct))
    );
    println!("  through the proxy, simple query          {:>9.3} ms", ms(o));
    drop(client);
    let _ = stop_tx.send(());
    let _ = runtime.block_on(handle);
}
