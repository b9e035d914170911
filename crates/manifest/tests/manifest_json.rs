//! Loading a dbt `manifest.json` (v6 to v12) into a `Project`, and its error messages.

use std::path::{Path, PathBuf};
use strata_manifest::{
    CalculationMethod, Diagnostics, Materialization, Project, Relation, Window, WindowPeriod, load_definitions,
    load_manifest_json,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/manifest")
        .join(name)
}

fn load(name: &str) -> Project {
    load_manifest_json(&fixture(name)).unwrap_or_else(|e| panic!("{name} should load:\n{e}"))
}

fn errors_of(path: &Path) -> String {
    match load_manifest_json(path) {
        Ok(_) => panic!("{} should not load", path.display()),
        Err(e) => e.to_string(),
    }
}

/// Writes `json` to a temporary `manifest.json` and returns the loading errors.
fn errors_for(json: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, json).unwrap();
    errors_of(&path)
}

fn load_text(json: &str) -> Result<Project, Diagnostics> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, json).unwrap();
    load_manifest_json(&path)
}

/// A minimal manifest of schema `version` with the given `nodes` and `metrics` objects.
fn manifest(version: &str, nodes: &str, metrics: &str) -> String {
    format!(
        r#"{{"metadata": {{"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/{version}.json"}},
"nodes": {{{nodes}}}, "sources": {{}}, "metrics": {{{metrics}}}, "exposures": {{}}}}"#
    )
}

const ORDERS_MODEL: &str = r#""model.shop.orders": {"name": "orders", "resource_type": "model", "package_name": "shop",
"schema": "prod", "config": {"materialized": "table"}, "raw_code": "select 1 as amount, current_date as ordered_at"}"#;

fn metric_json(name: &str, fields: &str) -> String {
    format!(
        r#""metric.shop.{name}": {{"name": "{name}", "resource_type": "metric", "package_name": "shop",
"unique_id": "metric.shop.{name}", "description": "", "meta": {{}}, "tags": [], "config": {{"enabled": true}}, {fields}}}"#
    )
}

#[test]
fn v6_raw_sql_and_dbt_1_2_metric_names() {
    let p = load("v6.json");
    assert_eq!(p.name, "shop");
    assert_eq!(p.root, fixture(""));

    let orders = &p.models["orders"];
    assert!(orders.raw_sql.contains("{{ ref('raw_orders') }}"), "{}", orders.raw_sql);
    assert_eq!(orders.path, Path::new("models/orders.sql"));
    assert_eq!(orders.materialized, Materialization::Table);
    assert_eq!(orders.description.as_deref(), Some("One row per order."));
    assert_eq!(
        orders.relation,
        Some(Relation {
            database: Some("shop_db".into()),
            schema: "analytics".into(),
            identifier: "orders".into()
        })
    );
    // Columns come in name order (serde_json sorts object keys); an empty description is none.
    let cols: Vec<(&str, Option<&str>)> = orders
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.description.as_deref()))
        .collect();
    assert_eq!(cols, vec![("amount", None), ("order_id", Some("Order identifier."))]);
    assert_eq!(p.models["stg_payments"].materialized, Materialization::View);
    assert_eq!(p.models["stg_payments"].description, None);
    assert_eq!(p.models.len(), 2, "tests are not models");

    let seed = &p.seeds["raw_orders"];
    assert_eq!(seed.path, None, "a manifest carries no CSV");
    assert_eq!(seed.column_types["amount"], "decimal(10, 2)");
    assert_eq!(seed.relation.as_ref().unwrap().schema, "raw_data");
    assert!(p.has_node("raw_orders"));

    let src = p.source("raw", "payments").expect("the source is loaded");
    assert_eq!(src.identifier, "payments_v2");
    assert_eq!(src.schema, "raw");
    assert_eq!(src.database.as_deref(), Some("shop_db"));
    assert_eq!(src.description.as_deref(), Some("One row per payment."));

    let revenue = &p.metrics["revenue"];
    assert_eq!(revenue.calculation_method, CalculationMethod::Sum);
    assert_eq!(revenue.expression, "amount");
    assert_eq!(revenue.model.as_deref(), Some("orders"));
    assert_eq!(revenue.label.as_deref(), Some("Revenue"));
    assert_eq!(revenue.description.as_deref(), Some("Total amount paid."));
    assert_eq!(revenue.timestamp.as_deref(), Some("ordered_at"));
    assert_eq!(revenue.time_grains, vec!["day", "week", "month"]);
    assert_eq!(revenue.dimensions, vec!["status"]);
    assert_eq!(revenue.filters[0].operator, "!=");
    assert_eq!(revenue.filters[0].value, "'cancelled'");
    assert_eq!(revenue.meta["owner"], "finance");
    assert_eq!(revenue.tags, vec!["finance"]);
    assert_eq!(revenue.unique_id(), "metric.shop.revenue");
    assert_eq!(revenue.location.file, fixture("v6.json"));
    assert_eq!(p.metrics["order_count"].calculation_method, CalculationMethod::Count);
    assert_eq!(p.metrics["order_count"].description, None);

    let ratio = &p.metrics["revenue_per_order"];
    assert!(ratio.is_derived(), "type 'expression' is a derived metric");
    assert_eq!(ratio.model, None);
    assert_eq!(ratio.metric_refs, vec!["revenue", "order_count"]);

    assert_eq!(p.exposures.len(), 1);
    let e = &p.exposures[0];
    assert_eq!(e.name, "revenue_dashboard");
    assert_eq!(e.kind, "dashboard");
    assert_eq!(e.depends_on, vec!["ref('orders')", "source('raw', 'payments')"]);
}

#[test]
fn v9_raw_code_calculation_method_window_and_disabled() {
    let p = load("v9.json");
    assert_eq!(p.name, "shop", "the package with the most nodes is the project");

    let orders = &p.models["orders"];
    assert_eq!(
        orders.path,
        Path::new("models/marts/orders.sql"),
        "the root project's model wins"
    );
    assert!(orders.raw_sql.starts_with("{{ config(materialized='incremental') }}"));
    assert_eq!(
        orders.materialized,
        Materialization::Table,
        "incremental builds as a table"
    );
    assert_eq!(orders.relation.as_ref().unwrap().identifier, "fct_orders");
    assert_eq!(orders.relation.as_ref().unwrap().database.as_deref(), Some("warehouse"));
    assert_eq!(p.models["stg_orders"].materialized, Materialization::Ephemeral);
    assert!(p.models.contains_key("calendar"), "a package's models are loaded too");
    assert!(!p.models.contains_key("legacy_orders"), "disabled models are left out");
    assert!(!p.models.contains_key("orders_snapshot"));
    assert_eq!(p.seeds["country_codes"].path, None);
    assert_eq!(p.sources.len(), 1);

    let r = &p.metrics["revenue_30d"];
    assert_eq!(
        r.window,
        Some(Window {
            count: 30,
            period: WindowPeriod::Day
        })
    );
    assert_eq!(r.filters.len(), 2);
    assert!(!r.config.treat_null_values_as_zero);
    assert!(r.config.restrict_no_time_grain);
    assert_eq!(p.metrics["revenue"].meta["tier"], 1);
    assert_eq!(p.metrics["revenue"].tags, vec!["finance", "core"]);
    assert_eq!(p.metrics["revenue"].window, None);
    assert_eq!(p.metrics["average_order"].timestamp, None);
    assert!(p.metrics["average_order"].time_grains.is_empty());
    let share = &p.metrics["revenue_share_30d"];
    assert_eq!(share.calculation_method, CalculationMethod::Derived);
    assert_eq!(share.metric_refs, vec!["revenue_30d", "revenue"]);

    assert!(!p.metrics.contains_key("old_revenue"));
    let old = &p.disabled_metrics["old_revenue"];
    assert!(!old.config.enabled);
    // A disabled copy of an enabled metric leaves the enabled one alone.
    assert_eq!(p.metrics["revenue"].label.as_deref(), Some("Revenue"));
    assert!(!p.disabled_metrics.contains_key("revenue"));
}

#[test]
fn v10_project_name_vars_and_exposure_refs() {
    let p = load("v10.json");
    assert_eq!(p.name, "jaffle");
    assert_eq!(p.vars["currency"], "EUR");
    assert_eq!(p.vars["start_year"], 2021);
    let m = &p.models["payments"];
    assert!(m.raw_sql.contains("source('stripe', 'payment')"));
    assert_eq!(m.columns[0].name, "paid_at");
    assert_eq!(
        m.relation,
        Some(Relation {
            database: Some("ANALYTICS".into()),
            schema: "MARTS".into(),
            identifier: "payments".into()
        })
    );
    assert!(p.source("stripe", "payment").is_some());
    assert!(p.source("stripe", "refund").is_none(), "disabled sources are left out");
    let metric = &p.metrics["payment_total"];
    assert_eq!(
        metric.time_grains,
        vec!["day", "month"],
        "grains are lower-cased as in YAML"
    );
    assert_eq!(metric.tags, vec!["finance"], "a single tag may be a string");
    assert_eq!(metric.filters[0].value, "'gift_card'");
    assert_eq!(
        p.exposures[0].depends_on,
        vec!["ref('payments')", "metric('payment_total')"]
    );
}

#[test]
fn every_schema_version_from_6_to_12_is_read() {
    for v in 6..=12 {
        let json = manifest(
            &format!("v{v}"),
            ORDERS_MODEL,
            &metric_json(
                "revenue",
                r#""calculation_method": "sum", "expression": "amount", "model": "ref('orders')", "timestamp": "ordered_at", "time_grains": ["month"]"#,
            ),
        );
        let p = load_text(&json).unwrap_or_else(|e| panic!("v{v}: {e}"));
        assert_eq!(p.metrics["revenue"].model.as_deref(), Some("orders"), "v{v}");
        // v6 wrote `raw_sql`, later versions `raw_code`; either is read.
        assert_eq!(
            p.models["orders"].raw_sql,
            "select 1 as amount, current_date as ordered_at"
        );
    }
}

#[test]
fn rejects_other_schema_versions_naming_version_and_file() {
    let path = fixture("bad_version.json");
    let e = errors_of(&path);
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("field 'metadata.dbt_schema_version'"), "{e}");
    assert!(
        e.contains("unsupported manifest schema version v5 (https://schemas.getdbt.com/dbt/manifest/v5.json)"),
        "{e}"
    );
    assert!(e.contains("v6 to v12"), "{e}");

    let e = errors_for(&manifest("v13", "", ""));
    assert!(e.contains("unsupported manifest schema version v13"), "{e}");
    let e = errors_for(r#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"}}"#);
    assert!(e.contains("'run-results' artifact"), "{e}");
    let e = errors_for(r#"{"metadata": {"dbt_schema_version": "latest"}}"#);
    assert!(e.contains("unrecognized manifest schema version 'latest'"), "{e}");
    let e = errors_for(r#"{"nodes": {}}"#);
    assert!(e.contains("not a dbt manifest.json"), "{e}");
    let e = errors_for("[1, 2]");
    assert!(e.contains("must be a JSON object, found an array"), "{e}");
}

#[test]
fn malformed_json_names_file_line_and_column() {
    let path = fixture("malformed.json");
    let e = errors_of(&path);
    assert!(
        e.starts_with(&format!(
            "{}:10: invalid JSON at column 7: expected `,` or `}}`",
            path.display()
        )),
        "{e}"
    );
    let e = errors_for("");
    assert!(e.contains("manifest.json:1: invalid JSON"), "{e}");
    assert!(e.contains("EOF"), "{e}");
    let e = errors_of(Path::new("/nonexistent/manifest.json"));
    assert!(e.starts_with("/nonexistent/manifest.json: cannot read file"), "{e}");
}

#[test]
fn bad_metric_fields_name_file_unique_id_and_field() {
    let path = fixture("bad_metric.json");
    let e = errors_of(&path);
    let file = path.display().to_string();
    assert!(
        e.contains(&format!(
            "{file}: metric 'metric.shop.revenue', field 'window.period': must be one of day, week, month, year; found 'fortnight'"
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "{file}: metric 'metric.shop.order_total', field 'calculation_method': unknown calculation method 'total'"
        )),
        "{e}"
    );
    assert_eq!(e.lines().count(), 2, "{e}");
}

#[test]
fn metric_rules_are_those_of_yaml_metrics() {
    let model = || ORDERS_MODEL.to_string();
    let check = |version: &str, metric: String, expected: &str| {
        let e = errors_for(&manifest(version, &model(), &metric));
        assert!(e.contains(expected), "expected '{expected}' in:\n{e}");
    };
    check(
        "v9",
        metric_json(
            "rev",
            r#""calculation_method": "derived", "expression": "{{ metric('a') }}", "model": "ref('orders')""#,
        ),
        "metric 'metric.shop.rev', field 'model': Derived metrics cannot have a 'model' property",
    );
    check(
        "v9",
        metric_json(
            "rev",
            r#""calculation_method": "sum", "expression": "amount", "model": null"#,
        ),
        "Non-derived metrics require a 'model' property",
    );
    check(
        "v9",
        metric_json(
            "rev",
            r#""calculation_method": "sum", "expression": "amount", "model": "ref('orders')", "time_grains": ["day"], "timestamp": null"#,
        ),
        "field 'time_grains': The metric 'rev' has time_grains defined but is missing a timestamp dimension.",
    );
    check(
        "v6",
        metric_json(
            "rev",
            r#""type": "sum", "calculation_method": "sum", "sql": "amount", "model": "ref('orders')""#,
        ),
        "field 'type': give either 'calculation_method' or the dbt 1.2 name 'type', not both",
    );
    check(
        "v9",
        r#""metric.shop.my revenue": {"name": "my revenue", "resource_type": "metric", "package_name": "shop",
"calculation_method": "sum", "expression": "amount", "model": "ref('orders')"}"#
            .to_string(),
        "metric 'metric.shop.my revenue', field 'name': metric names cannot contain spaces",
    );
    check(
        "v9",
        metric_json(
            "rev",
            r#""calculation_method": "sum", "expression": "amount", "model": "ref('orders')", "filters": [{"field": "status", "operator": "="}]"#,
        ),
        "field 'filters[0]': a filter needs 'value'",
    );
    check(
        "v9",
        metric_json(
            "rev",
            r#""calculation_method": "sum", "expression": "amount", "model": "ref('orders')", "config": {"enabled": "yes"}"#,
        ),
        "field 'config.enabled': must be true or false, found a string",
    );
}

#[test]
fn references_are_checked_like_a_project_folder() {
    let metrics = [
        metric_json(
            "on_missing",
            r#""calculation_method": "sum", "expression": "amount", "model": "ref('nowhere')""#,
        ),
        metric_json(
            "ratio",
            r#""calculation_method": "derived", "expression": "{{ metric('gone') }} / {{ metric('on_missing') }}""#,
        ),
        metric_json(
            "a",
            r#""calculation_method": "derived", "expression": "{{ metric('b') }}""#,
        ),
        metric_json(
            "b",
            r#""calculation_method": "derived", "expression": "{{ metric('a') }}""#,
        ),
    ]
    .join(",");
    let e = errors_for(&manifest("v9", ORDERS_MODEL, &metrics));
    assert!(
        e.contains("metric 'metric.shop.on_missing', field 'model': refers to model 'nowhere', which was not found"),
        "{e}"
    );
    assert!(
        e.contains(
            "metric 'metric.shop.ratio', field 'expression': depends on a metric named 'gone' which was not found"
        ),
        "{e}"
    );
    assert!(
        e.contains("derived metrics refer to each other in a cycle: a -> b -> a"),
        "{e}"
    );
}

#[test]
fn metrics_on_seeds_resolve_and_duplicates_are_reported() {
    let seed = r#""seed.shop.targets": {"name": "targets", "resource_type": "seed", "package_name": "shop", "schema": "seeds"}"#;
    let metric = metric_json(
        "target",
        r#""calculation_method": "sum", "expression": "amount", "model": "ref('targets')""#,
    );
    let p = load_text(&manifest("v11", seed, &metric)).unwrap();
    assert_eq!(p.metrics["target"].model.as_deref(), Some("targets"));
    assert_eq!(p.seeds["targets"].relation.as_ref().unwrap().identifier, "targets");

    let other = r#""metric.other.target": {"name": "target", "resource_type": "metric", "package_name": "other",
"calculation_method": "count", "expression": "*", "model": "ref('targets')"}"#;
    let e = errors_for(&manifest("v9", seed, &format!("{metric}, {other}")));
    assert!(
        e.contains("two metrics are named 'target': metric.other.target and metric.shop.target"),
        "{e}"
    );

    let twin = r#""model.a.orders": {"name": "orders", "resource_type": "model", "package_name": "a", "raw_code": "select 1"},
"model.b.orders": {"name": "orders", "resource_type": "model", "package_name": "b", "raw_code": "select 2"},
"model.c.x": {"name": "x", "resource_type": "model", "package_name": "c", "raw_code": "select 3"},
"model.c.y": {"name": "y", "resource_type": "model", "package_name": "c", "raw_code": "select 3"}"#;
    let e = errors_for(&manifest("v9", twin, ""));
    assert!(
        e.contains(
            "model 'model.b.orders', field 'name': two models are named 'orders': model.a.orders and model.b.orders"
        ),
        "{e}"
    );
}

#[test]
fn unsupported_nodes_are_named() {
    let metricflow = r#""metric.shop.revenue": {"name": "revenue", "resource_type": "metric", "package_name": "shop",
"type": "simple", "type_params": {"measure": {"name": "revenue"}}, "label": "Revenue"}"#;
    let e = errors_for(&manifest("v12", ORDERS_MODEL, metricflow));
    assert!(
        e.contains("metric 'metric.shop.revenue', field 'type_params': is a MetricFlow metric (type 'simple')"),
        "{e}"
    );
    let python = r#""model.shop.py": {"name": "py", "resource_type": "model", "package_name": "shop", "language": "python",
"raw_code": "def model(dbt, session): ..."}"#;
    let e = errors_for(&manifest("v9", python, ""));
    assert!(
        e.contains("model 'model.shop.py', field 'language': is a python model"),
        "{e}"
    );
    let no_sql = r#""model.shop.m": {"name": "m", "resource_type": "model", "package_name": "shop"}"#;
    let e = errors_for(&manifest("v6", no_sql, ""));
    assert!(e.contains("field 'raw_sql': a model needs its SQL in 'raw_sql'"), "{e}");
    let e = errors_for(&manifest("v8", no_sql, ""));
    assert!(
        e.contains("field 'raw_code': a model needs its SQL in 'raw_code'"),
        "{e}"
    );
    let custom = r#""model.shop.m": {"name": "m", "resource_type": "model", "package_name": "shop",
"config": {"materialized": "materialized_view"}, "raw_code": "select 1"}"#;
    let e = errors_for(&manifest("v9", custom, ""));
    assert!(
        e.contains("field 'config.materialized': unknown materialization 'materialized_view'"),
        "{e}"
    );
    let e = errors_for(
        r#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v9.json"}, "nodes": []}"#,
    );
    assert!(
        e.contains("field 'nodes': must be a JSON object, found an array"),
        "{e}"
    );
}

#[test]
fn load_definitions_takes_a_folder_or_a_manifest() {
    let p = load_definitions(&fixture("v9.json")).unwrap();
    assert!(p.metrics.contains_key("revenue_30d"));

    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../demo/project");
    let p = load_definitions(&demo).unwrap();
    assert_eq!(p.name, "shop");
    assert!(p.models.contains_key("orders"));
    let p = load_definitions(&demo.join("dbt_project.yml")).unwrap();
    assert!(p.metrics.contains_key("revenue"));

    let e = load_definitions(Path::new("/nonexistent/place"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no such file or folder"), "{e}");
    let e = load_definitions(&demo.join("models/marts/orders.sql"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected a dbt project folder or a manifest.json"), "{e}");
}
