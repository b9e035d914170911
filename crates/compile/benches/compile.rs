//! In-process compile time of `metrics.calculate` calls, from dbt-SQL text to warehouse SQL.
//!
//! Run with `bench/compile.sh` (or `cargo bench -p strata-compile --bench compile`).

use criterion::{Criterion, criterion_group, criterion_main};
use std::fmt::Write;
use std::hint::black_box;
use std::sync::Arc;
use strata_compile::{CompileOptions, Compiler};

/// A project with one model, `orders`, and ten sum metrics over it with three dimensions.
fn project() -> (tempfile::TempDir, Arc<strata_manifest::Project>) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    std::fs::write(dir.path().join("dbt_project.yml"), "name: bench\nconfig-version: 2\n").unwrap();
    std::fs::write(dir.path().join("models/orders.sql"), "select 1 as amount").unwrap();
    let mut yml = String::from("version: 2\nmetrics:\n");
    for i in 0..10 {
        let _ = write!(
            yml,
            "  - name: metric_{i}\n    model: ref('orders')\n    timestamp: ordered_at\n    time_grains: [day, week, month, quarter, year]\n    calculation_method: sum\n    expression: amount_{i}\n    dimensions: [country, status, segment]\n"
        );
    }
    std::fs::write(dir.path().join("models/metrics.yml"), yml).unwrap();
    let project = strata_manifest::load_project(dir.path()).expect("bench project loads");
    (dir, Arc::new(project))
}

fn bench(c: &mut Criterion) {
    let (_dir, project) = project();
    let compiler = Compiler::new(project, CompileOptions::default());
    let one = "select * from {{ metrics.calculate(metric('metric_0'), grain='month', dimensions=['country']) }}";
    let ten_metrics: Vec<String> = (0..10).map(|i| format!("metric('metric_{i}')")).collect();
    let ten = format!(
        "select * from {{{{ metrics.calculate([{}], grain='month', dimensions=['country', 'status', 'segment']) }}}}",
        ten_metrics.join(", ")
    );
    let secondary = "select * from {{ metrics.calculate(metric('metric_0'), grain='month', secondary_calculations=[metrics.period_over_period(comparison_strategy='ratio', interval=1), metrics.period_to_date(aggregate='sum', period='year'), metrics.rolling(aggregate='average', interval=3)]) }}";
    let plain = "select * from orders where status = 'completed' limit 10";
    for sql in [one, ten.as_str(), secondary] {
        compiler.compile(sql).expect("bench query compiles");
    }
    c.bench_function("one metric, one dimension, month", |b| {
        b.iter(|| compiler.compile(black_box(one)).unwrap())
    });
    c.bench_function("ten metrics, three dimensions, month", |b| {
        b.iter(|| compiler.compile(black_box(&ten)).unwrap())
    });
    c.bench_function("one metric, three secondary calculations", |b| {
        b.iter(|| compiler.compile(black_box(secondary)).unwrap())
    });
    c.bench_function("plain SQL (no Jinja)", |b| {
        b.iter(|| compiler.compile(black_box(plain)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
