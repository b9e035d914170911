//! Loading and validating a generated project with 5,000 metrics.
//!
//! Run with `bench/compile.sh` (or `cargo bench -p strata-manifest --bench load`).

use criterion::{Criterion, criterion_group, criterion_main};
use std::fmt::Write;

/// 50 models, each with a properties file of 100 metrics (every tenth one derived).
fn write_project(root: &std::path::Path) {
    std::fs::create_dir_all(root.join("models")).unwrap();
    std::fs::write(root.join("dbt_project.yml"), "name: big\nconfig-version: 2\n").unwrap();
    for m in 0..50 {
        std::fs::write(
            root.join(format!("models/model_{m}.sql")),
            "select 1 as amount, current_date as ordered_at",
        )
        .unwrap();
        let mut yml = String::from("version: 2\nmetrics:\n");
        for i in 0..100 {
            let name = format!("metric_{m}_{i}");
            if i % 10 == 9 {
                let _ = write!(
                    yml,
                    "  - name: {name}\n    label: Ratio {m} {i}\n    calculation_method: derived\n    expression: \"{{{{ metric('metric_{m}_{}') }}}} / {{{{ metric('metric_{m}_{}') }}}}\"\n    timestamp: ordered_at\n    time_grains: [day, week, month]\n    dimensions: [country]\n",
                    i - 1,
                    i - 2
                );
            } else {
                let _ = write!(
                    yml,
                    "  - name: {name}\n    label: Metric {m} {i}\n    description: A generated metric\n    model: ref('model_{m}')\n    calculation_method: sum\n    expression: amount\n    timestamp: ordered_at\n    time_grains: [day, week, month, quarter, year]\n    dimensions: [country, status, segment]\n    filters:\n      - field: status\n        operator: '='\n        value: \"'paid'\"\n    meta: {{owner: team_{m}}}\n    tags: [generated]\n"
                );
            }
        }
        std::fs::write(root.join(format!("models/metrics_{m}.yml")), yml).unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path());
    let project = strata_manifest::load_project(dir.path()).expect("generated project loads");
    assert_eq!(project.metrics.len(), 5000);
    let mut group = c.benchmark_group("load");
    group.sample_size(20);
    group.bench_function("5,000 metrics: load and validate", |b| {
        b.iter(|| strata_manifest::load_project(dir.path()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
