//! Times a metric query compiled by Strata against a hand-written equivalent, on the demo
//! project's DuckDB warehouse. Used by `bench/metrics_duckdb.sh`; prints medians and the ratio.
//!
//!   strata-bench <project dir> [runs]

use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_compile::{CompileOptions, Compiler};
use strata_warehouse::{DuckDb, Warehouse};

/// Month grain, two dimensions, three secondary calculations.
const METRIC_QUERY: &str = "select * from {{ metrics.calculate(metric('revenue'), grain='month', dimensions=['status', 'country'], secondary_calculations=[metrics.period_over_period(comparison_strategy='difference', interval=1), metrics.rolling(aggregate='sum', interval=3), metrics.period_to_date(aggregate='sum', period='year')]) }}";

/// What an analyst would write by hand for the same numbers.
const HAND_WRITTEN: &str = "
with monthly as (
    select date_trunc('month', ordered_at)::date as date_month, status, country, coalesce(sum(amount), 0) as revenue
    from orders
    group by 1, 2, 3
)
select
    date_month,
    date_trunc('year', date_month)::date as date_year,
    status,
    country,
    revenue,
    revenue - coalesce(lag(revenue, 1) over (partition by status, country order by date_month), 0) as revenue_difference_to_1_month_ago,
    sum(revenue) over (partition by status, country order by date_month rows between 2 preceding and current row) as revenue_rolling_sum_3_month,
    sum(revenue) over (partition by date_trunc('year', date_month), status, country order by date_month rows between unbounded preceding and current row) as revenue_sum_for_year
from monthly
order by date_month, status, country";

fn time_query(db: &mut DuckDb, sql: &str) -> (Duration, u64) {
    let started = Instant::now();
    let mut rows = 0u64;
    db.query_each(sql, &mut |_| {}, &mut |_| {
        rows += 1;
        Ok(())
    })
    .unwrap_or_else(|e| panic!("query failed: {e}\n{sql}"));
    (started.elapsed(), rows)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "strata-demo".into()));
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(7);
    let project = Arc::new(strata_manifest::load_project(&dir).unwrap_or_else(|e| panic!("{e}")));
    let compiler = Compiler::new(project, CompileOptions::default());

    let started = Instant::now();
    let compiled = compiler.compile(METRIC_QUERY).unwrap_or_else(|e| panic!("{e}"));
    let compile_time = started.elapsed();
    let mut db = DuckDb::open(&dir.join("warehouse.duckdb")).unwrap_or_else(|e| panic!("{e}"));
    let orders = db
        .query("select count(*) from orders")
        .map(|r| r.rows[0][0].to_string())
        .unwrap_or_default();

    // Warm up both, then alternate so drift affects them alike.
    let (_, strata_rows) = time_query(&mut db, &compiled.sql);
    let (_, hand_rows) = time_query(&mut db, HAND_WRITTEN);
    let (mut strata, mut hand) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        strata.push(time_query(&mut db, &compiled.sql).0);
        hand.push(time_query(&mut db, HAND_WRITTEN).0);
    }
    let (s, h) = (median(strata), median(hand));
    println!("orders: {orders}");
    println!("compile (first call, cold): {compile_time:.1?}");
    println!("strata metric query: median {s:.1?} over {runs} runs, {strata_rows} rows");
    println!("hand-written query:  median {h:.1?} over {runs} runs, {hand_rows} rows");
    println!("ratio strata / hand-written: {:.2}", s.as_secs_f64() / h.as_secs_f64());
}
