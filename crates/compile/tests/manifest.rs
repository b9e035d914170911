//! A project loaded from a dbt `manifest.json` compiles like the same project loaded from
//! its folder: the demo shop, and a manifest written for two of its models and one metric.

use std::path::PathBuf;
use std::sync::Arc;
use strata_compile::{CompileOptions, Compiler, ErrorKind, Postgres};
use strata_manifest::{Project, load_manifest_json, load_project};

fn demo_folder() -> Project {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../demo/project");
    load_project(&root).expect("the demo project loads")
}

fn demo_manifest() -> Project {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo_manifest.json");
    load_manifest_json(&path).expect("the demo manifest loads")
}

fn compiler(project: Project) -> Compiler {
    Compiler::new(
        Arc::new(project),
        CompileOptions {
            dialect: &Postgres,
            target_schema: Some("analytics".into()),
            ..CompileOptions::default()
        },
    )
}

#[test]
fn the_manifest_holds_what_the_folder_holds() {
    let folder = demo_folder();
    let manifest = demo_manifest();
    assert_eq!(manifest.name, folder.name);
    for name in ["orders", "customers"] {
        let (a, b) = (&folder.models[name], &manifest.models[name]);
        assert_eq!(a.raw_sql, b.raw_sql, "{name}");
        assert_eq!(a.path, b.path, "{name}");
        assert_eq!(a.materialized, b.materialized, "{name}");
    }
    // The same metric, but for where it was read from.
    let mut from_manifest = manifest.metrics["revenue"].clone();
    from_manifest.location = folder.metrics["revenue"].location.clone();
    assert_eq!(from_manifest, folder.metrics["revenue"]);
}

#[test]
fn a_metric_query_compiles_the_same_from_folder_and_manifest() {
    let sql = "select * from {{ metrics.calculate(metric('revenue'), grain='month', dimensions=['country']) }}";
    let from_folder = compiler(demo_folder()).compile(sql).expect("compiles from the folder");
    let c = compiler(demo_manifest());
    let from_manifest = c.compile(sql).expect("compiles from the manifest");
    assert_eq!(from_manifest, from_folder);
    assert_eq!(from_manifest.depends_on, vec!["orders"]);
    let relation = c.relation("orders").expect("orders is a model");
    assert_eq!(relation, "analytics.orders");
    assert!(
        from_manifest.sql.contains(&format!("from {relation}")),
        "{}",
        from_manifest.sql
    );
}

#[test]
fn refs_compile_the_same_and_missing_models_are_named() {
    // customers reads stg_customers, which the hand-written manifest does not have.
    let e = compiler(demo_manifest()).compile_model("customers").unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownRelation);
    let text = e.to_string();
    assert!(
        text.contains(
            "Model 'model.shop.customers' (models/marts/customers.sql) depends on a node named 'stg_customers'"
        ),
        "{text}"
    );
    // A query that reads both models it does have compiles as from the folder.
    let sql = "select count(*) from {{ ref('customers') }} join {{ ref('orders') }} using (customer_id)";
    let a = compiler(demo_folder()).compile(sql).unwrap();
    let b = compiler(demo_manifest()).compile(sql).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        b.sql,
        "select count(*) from analytics.customers join analytics.orders using (customer_id)"
    );
}

#[test]
fn a_manifest_metric_on_a_seed_without_csv_compiles() {
    let json = r#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v7.json"},
"nodes": {"seed.shop.targets": {"name": "targets", "resource_type": "seed", "package_name": "shop",
  "database": "db", "schema": "seeds", "alias": "targets", "raw_code": ""}},
"metrics": {"metric.shop.target": {"name": "target", "resource_type": "metric", "package_name": "shop",
  "calculation_method": "sum", "expression": "amount", "model": "ref('targets')", "timestamp": "day",
  "time_grains": ["month"], "dimensions": [], "filters": [], "config": {"enabled": true}}}}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, json).unwrap();
    let project = load_manifest_json(&path).unwrap();
    assert_eq!(project.seeds["targets"].path, None);
    let c = compiler(project).compile("select * from {{ metrics.calculate(metric('target'), grain='month') }}");
    let c = c.expect("compiles");
    assert!(c.sql.contains("from analytics.targets"), "{}", c.sql);
    assert_eq!(c.depends_on, vec!["targets"]);
}
