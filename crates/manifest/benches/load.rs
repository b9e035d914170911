//! Loading and validating a generated project with 5,000 metrics, from its folder and from a
//! `manifest.json`.
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

/// The same project as a v9 `manifest.json`, in `root/target`.
fn write_manifest(root: &std::path::Path) -> std::path::PathBuf {
    use serde_json::{Map, Value, json};
    let mut nodes = Map::new();
    let mut metrics = Map::new();
    for m in 0..50 {
        let model = format!("model_{m}");
        nodes.insert(
            format!("model.big.{model}"),
            json!({
                "name": model, "resource_type": "model", "package_name": "big",
                "original_file_path": format!("models/{model}.sql"), "database": "db", "schema": "analytics",
                "alias": model, "config": {"enabled": true, "materialized": "view"}, "language": "sql",
                "raw_code": "select 1 as amount, current_date as ordered_at", "description": "",
                "columns": {}, "depends_on": {"macros": [], "nodes": []}, "refs": [], "sources": []
            }),
        );
        for i in 0..100 {
            let name = format!("metric_{m}_{i}");
            let metric = if i % 10 == 9 {
                json!({
                    "name": name, "label": format!("Ratio {m} {i}"), "calculation_method": "derived",
                    "expression": format!("{{{{ metric('metric_{m}_{}') }}}} / {{{{ metric('metric_{m}_{}') }}}}", i - 1, i - 2),
                    "timestamp": "ordered_at", "time_grains": ["day", "week", "month"], "dimensions": ["country"],
                    "filters": [], "window": null, "model": null
                })
            } else {
                json!({
                    "name": name, "label": format!("Metric {m} {i}"), "description": "A generated metric",
                    "model": format!("ref('{model}')"), "calculation_method": "sum", "expression": "amount",
                    "timestamp": "ordered_at", "time_grains": ["day", "week", "month", "quarter", "year"],
                    "dimensions": ["country", "status", "segment"],
                    "filters": [{"field": "status", "operator": "=", "value": "'paid'"}],
                    "window": null, "meta": {"owner": format!("team_{m}")}, "tags": ["generated"]
                })
            };
            let mut metric = metric.as_object().cloned().unwrap_or_default();
            for (k, v) in [
                ("resource_type", json!("metric")),
                ("package_name", json!("big")),
                ("unique_id", json!(format!("metric.big.{name}"))),
                ("config", json!({"enabled": true, "group": null})),
                ("depends_on", json!({"macros": [], "nodes": []})),
            ] {
                metric.insert(k.to_string(), v);
            }
            metrics.insert(format!("metric.big.{name}"), Value::Object(metric));
        }
    }
    let doc = json!({
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v9.json", "dbt_version": "1.5.4"},
        "nodes": nodes, "sources": {}, "metrics": metrics, "exposures": {}, "macros": {}, "disabled": {}
    });
    std::fs::create_dir_all(root.join("target")).unwrap();
    let path = root.join("target/manifest.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    path
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
    let manifest = write_manifest(dir.path());
    let from_manifest = strata_manifest::load_manifest_json(&manifest).expect("generated manifest loads");
    assert_eq!(from_manifest.metrics.len(), 5000);
    group.bench_function("5,000 metrics: load and validate a manifest.json", |b| {
        b.iter(|| strata_manifest::load_manifest_json(&manifest).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
