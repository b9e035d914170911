//! The demo dbt project: its files parse, and its metrics are complete and consistent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use strata_demo::{PROJECT_FILES, PROJECT_NAME, tables, write_project};
use yaml_rust2::{Yaml, YamlLoader};

const GRAINS: [&str; 5] = ["day", "week", "month", "quarter", "year"];
const DIMENSIONS: [&str; 4] = ["status", "country", "segment", "payment_method"];
const METHODS: [&str; 8] = [
    "count",
    "count_distinct",
    "sum",
    "average",
    "min",
    "max",
    "median",
    "derived",
];
const METRIC_FIELDS: [&str; 14] = [
    "name",
    "label",
    "model",
    "description",
    "calculation_method",
    "expression",
    "timestamp",
    "time_grains",
    "dimensions",
    "filters",
    "window",
    "config",
    "meta",
    "tags",
];

fn file(rel: &str) -> &'static str {
    PROJECT_FILES
        .iter()
        .find(|(p, _)| *p == rel)
        .unwrap_or_else(|| panic!("no project file {rel}"))
        .1
}

fn yaml(rel: &str) -> Yaml {
    let mut docs = YamlLoader::load_from_str(file(rel)).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"));
    assert_eq!(docs.len(), 1, "{rel} has one document");
    docs.remove(0)
}

fn str_of<'a>(y: &'a Yaml, key: &str) -> Option<&'a str> {
    y[key].as_str()
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| v.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn keys(y: &Yaml) -> Vec<String> {
    y.as_hash()
        .map(|h| h.keys().filter_map(|k| k.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The names inside `{{ fn('a'[, 'b']) }}` calls, e.g. `ref` or `metric`, as the argument lists.
fn jinja_calls(text: &str, function: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let needle = format!("{function}(");
    let mut rest = text;
    while let Some(at) = rest.find(&needle) {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        let after = &rest[at + needle.len()..];
        let end = after.find(')').expect("closing parenthesis");
        if !preceded_by_ident {
            out.push(
                after[..end]
                    .split(',')
                    .map(|a| a.trim().trim_matches(['\'', '"']).to_string())
                    .collect(),
            );
        }
        rest = &after[end..];
    }
    out
}

fn model_names() -> BTreeSet<String> {
    PROJECT_FILES
        .iter()
        .filter(|(p, _)| p.starts_with("models/") && p.ends_with(".sql"))
        .map(|(p, _)| Path::new(p).file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn metrics() -> Vec<Yaml> {
    yaml("models/marts/metrics.yml")["metrics"]
        .as_vec()
        .expect("a metrics list")
        .clone()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-demo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn every_file_of_the_project_folder_is_shipped() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("project");
    let mut on_disk = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                on_disk.push(path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    on_disk.sort();
    let mut shipped: Vec<String> = PROJECT_FILES.iter().map(|(p, _)| p.to_string()).collect();
    shipped.sort();
    assert_eq!(on_disk, shipped, "PROJECT_FILES must list every file under project/");
}

#[test]
fn write_project_writes_every_file() {
    let dir = temp_dir("write");
    write_project(&dir).unwrap();
    // Writing again over an existing project works too.
    write_project(&dir).unwrap();
    for (rel, content) in PROJECT_FILES {
        assert_eq!(std::fs::read_to_string(dir.join(rel)).unwrap(), *content, "{rel}");
    }
    for rel in [
        "dbt_project.yml",
        "README.md",
        "models/marts/metrics.yml",
        "models/staging/stg_orders.sql",
    ] {
        assert!(dir.join(rel).is_file(), "{rel}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_yaml_file_parses() {
    let yamls: Vec<&str> = PROJECT_FILES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| p.ends_with(".yml"))
        .collect();
    assert_eq!(yamls.len(), 6);
    for rel in yamls {
        let doc = yaml(rel);
        assert!(doc.as_hash().is_some(), "{rel} is a mapping");
        if rel.starts_with("models/") {
            assert_eq!(doc["version"].as_i64(), Some(2), "{rel} has version: 2");
        }
    }
}

#[test]
fn dbt_project_yml() {
    let p = yaml("dbt_project.yml");
    assert_eq!(str_of(&p, "name"), Some(PROJECT_NAME));
    assert_eq!(p["config-version"].as_i64(), Some(2));
    assert_eq!(str_of(&p, "profile"), Some("strata"));
    let models = &p["models"][PROJECT_NAME];
    assert_eq!(str_of(&models["staging"], "+materialized"), Some("view"));
    assert_eq!(str_of(&models["marts"], "+materialized"), Some("table"));
}

#[test]
fn sources_match_the_generated_tables() {
    let doc = yaml("models/staging/sources.yml");
    let sources = doc["sources"].as_vec().unwrap();
    assert_eq!(sources.len(), 1);
    let raw = &sources[0];
    assert_eq!(str_of(raw, "name"), Some("raw"));
    assert_eq!(str_of(raw, "schema"), Some("raw"));
    let declared = raw["tables"].as_vec().unwrap();
    let generated = tables(0);
    assert_eq!(declared.len(), generated.len());
    for (d, g) in declared.iter().zip(&generated) {
        assert_eq!(g.schema, "raw");
        assert_eq!(str_of(d, "name"), Some(g.name));
        assert!(
            str_of(d, "description").is_some_and(|s| !s.is_empty()),
            "{} has a description",
            g.name
        );
        let columns: Vec<&str> = d["columns"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|c| str_of(c, "name").unwrap())
            .collect();
        let generated: Vec<&str> = g.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(columns, generated, "columns of raw.{}", g.name);
        // The staging model reads every column of its source.
        let sql = file(&format!("models/staging/stg_{}.sql", g.name));
        assert!(sql.contains(&format!("source('raw', '{}')", g.name)));
        for c in generated {
            assert!(sql.contains(c), "stg_{} uses raw column {c}", g.name);
        }
    }
}

#[test]
fn refs_and_sources_resolve() {
    let models = model_names();
    let expected: BTreeSet<String> = ["stg_customers", "stg_orders", "stg_payments", "customers", "orders"]
        .map(String::from)
        .into();
    assert_eq!(models, expected);
    let sources: BTreeSet<String> = tables(0).iter().map(|t| t.name.to_string()).collect();
    for (rel, text) in PROJECT_FILES {
        if !(rel.ends_with(".sql") || rel.ends_with(".yml")) {
            continue;
        }
        for args in jinja_calls(text, "ref") {
            assert!(models.contains(&args[0]), "{rel}: ref('{}') names no model", args[0]);
        }
        for args in jinja_calls(text, "source") {
            assert_eq!(args[0], "raw", "{rel}");
            assert!(
                sources.contains(&args[1]),
                "{rel}: source('raw', '{}') is not declared",
                args[1]
            );
        }
    }
    // Staging reads sources only; marts read models only.
    for (rel, text) in PROJECT_FILES.iter().filter(|(p, _)| p.ends_with(".sql")) {
        if rel.starts_with("models/staging/") {
            assert!(
                jinja_calls(text, "ref").is_empty() && !jinja_calls(text, "source").is_empty(),
                "{rel}"
            );
        } else {
            assert!(
                !jinja_calls(text, "ref").is_empty() && jinja_calls(text, "source").is_empty(),
                "{rel}"
            );
        }
    }
}

#[test]
fn documented_models_exist_and_are_described() {
    let models = model_names();
    let mut documented = BTreeSet::new();
    for rel in ["models/staging/schema.yml", "models/marts/schema.yml"] {
        for m in yaml(rel)["models"].as_vec().unwrap() {
            let name = str_of(m, "name").unwrap();
            assert!(models.contains(name), "{rel} documents '{name}', which has no SQL file");
            assert!(str_of(m, "description").is_some(), "{name} has a description");
            for c in m["columns"].as_vec().unwrap() {
                assert!(
                    str_of(c, "description").is_some(),
                    "{name}.{} has a description",
                    str_of(c, "name").unwrap()
                );
            }
            documented.insert(name.to_string());
        }
    }
    assert_eq!(documented, models, "every model is documented");
}

fn orders_columns() -> BTreeSet<String> {
    let doc = yaml("models/marts/schema.yml");
    let orders = doc["models"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|m| str_of(m, "name") == Some("orders"))
        .unwrap();
    orders["columns"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|c| str_of(c, "name").unwrap().to_string())
        .collect()
}

#[test]
fn the_orders_mart_has_the_promised_columns() {
    let columns = orders_columns();
    let sql = file("models/marts/orders.sql");
    for c in [
        "order_id",
        "customer_id",
        "ordered_at",
        "status",
        "amount",
        "payment_method",
        "country",
        "segment",
    ] {
        assert!(columns.contains(c), "orders documents {c}");
        assert!(sql.contains(c), "orders.sql produces {c}");
    }
    assert!(sql.contains("cast(orders.ordered_at as date) as ordered_at"));
}

#[test]
fn every_metric_has_the_required_fields() {
    let metrics = metrics();
    let columns = orders_columns();
    let mut names = BTreeSet::new();
    for m in &metrics {
        let name = str_of(m, "name").expect("a name");
        assert!(names.insert(name.to_string()), "metric {name} is defined twice");
        assert!(name.starts_with(|c: char| c.is_ascii_lowercase()), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}"
        );
        for key in keys(m) {
            assert!(METRIC_FIELDS.contains(&key.as_str()), "{name}: unexpected field {key}");
        }
        for field in ["label", "description", "calculation_method", "expression", "timestamp"] {
            assert!(
                str_of(m, field).is_some_and(|s| !s.trim().is_empty()),
                "{name} needs '{field}'"
            );
        }
        let method = str_of(m, "calculation_method").unwrap();
        assert!(METHODS.contains(&method), "{name}: calculation_method {method}");
        assert_eq!(str_of(m, "timestamp"), Some("ordered_at"), "{name}");
        assert_eq!(strings(&m["time_grains"]), GRAINS, "{name}");
        let dims = strings(&m["dimensions"]);
        assert!(!dims.is_empty(), "{name} has dimensions");
        for d in &dims {
            assert!(columns.contains(d), "{name}: dimension {d} is not a column of orders");
        }
        assert!(!strings(&m["tags"]).is_empty(), "{name} has tags");
        assert!(m["meta"].as_hash().is_some(), "{name} has meta");
        if method == "derived" {
            assert!(m["model"].is_badvalue(), "derived metric {name} must not have a model");
            assert!(m["filters"].is_badvalue() && m["window"].is_badvalue(), "{name}");
        } else {
            assert_eq!(str_of(m, "model"), Some("ref('orders')"), "{name}");
            assert_eq!(dims, DIMENSIONS, "base metric {name} has all four dimensions");
            let expression = str_of(m, "expression").unwrap();
            assert!(
                columns.contains(expression),
                "{name}: expression {expression} is not a column of orders"
            );
            for f in m["filters"].as_vec().map(Vec::as_slice).unwrap_or_default() {
                assert!(columns.contains(str_of(f, "field").unwrap()), "{name}: filter field");
                assert!(
                    str_of(f, "operator").is_some() && str_of(f, "value").is_some(),
                    "{name}: filter"
                );
            }
        }
    }
}

#[test]
fn the_promised_metrics_are_there() {
    let metrics = metrics();
    let by_name: BTreeMap<&str, &Yaml> = metrics.iter().map(|m| (str_of(m, "name").unwrap(), m)).collect();
    let method = |n: &str| {
        str_of(
            by_name.get(n).unwrap_or_else(|| panic!("metric {n}")),
            "calculation_method",
        )
    };
    for (name, m) in [
        ("revenue", "sum"),
        ("order_count", "count"),
        ("customers_ordering", "count_distinct"),
        ("average_order_value", "average"),
        ("largest_order", "max"),
        ("smallest_order", "min"),
        ("median_order_value", "median"),
        ("completed_revenue", "sum"),
        ("revenue_last_30_days", "sum"),
        ("revenue_per_customer", "derived"),
    ] {
        assert_eq!(method(name), Some(m), "{name}");
    }
    let completed = by_name["completed_revenue"]["filters"].as_vec().unwrap();
    assert_eq!(completed.len(), 1);
    assert_eq!(str_of(&completed[0], "field"), Some("status"));
    assert_eq!(str_of(&completed[0], "operator"), Some("="));
    assert_eq!(str_of(&completed[0], "value"), Some("'completed'"));
    let window = &by_name["revenue_last_30_days"]["window"];
    assert_eq!(window["count"].as_i64(), Some(30));
    assert_eq!(str_of(window, "period"), Some("day"));
    assert_eq!(
        str_of(by_name["revenue_per_customer"], "expression"),
        Some("{{ metric('revenue') }} / {{ metric('customers_ordering') }}")
    );
    // A metric with a config block (the legacy spec's `config`).
    assert_eq!(
        by_name["average_order_value"]["config"]["treat_null_values_as_zero"].as_bool(),
        Some(false)
    );
}

#[test]
fn derived_metrics_reference_defined_metrics_and_share_their_dimensions() {
    let metrics = metrics();
    let by_name: BTreeMap<&str, &Yaml> = metrics.iter().map(|m| (str_of(m, "name").unwrap(), m)).collect();
    let mut derived_of_derived = 0;
    for m in metrics
        .iter()
        .filter(|m| str_of(m, "calculation_method") == Some("derived"))
    {
        let name = str_of(m, "name").unwrap();
        let parents = jinja_calls(str_of(m, "expression").unwrap(), "metric");
        assert!(!parents.is_empty(), "{name} refers to metrics");
        let dims: BTreeSet<String> = strings(&m["dimensions"]).into_iter().collect();
        let grains: BTreeSet<String> = strings(&m["time_grains"]).into_iter().collect();
        for args in parents {
            let parent = by_name
                .get(args[0].as_str())
                .unwrap_or_else(|| panic!("{name} refers to {}", args[0]));
            let parent_dims: BTreeSet<String> = strings(&parent["dimensions"]).into_iter().collect();
            assert!(
                dims.is_subset(&parent_dims),
                "{name}: dimensions {dims:?} not all on {}",
                args[0]
            );
            let parent_grains: BTreeSet<String> = strings(&parent["time_grains"]).into_iter().collect();
            assert!(grains.is_subset(&parent_grains), "{name}: time grains");
            assert_eq!(str_of(parent, "timestamp"), str_of(m, "timestamp"));
            if str_of(parent, "calculation_method") == Some("derived") {
                derived_of_derived += 1;
            }
        }
    }
    assert!(
        derived_of_derived > 0,
        "at least one derived metric is built on a derived metric"
    );
}

#[test]
fn one_dashboard_exposure() {
    let doc = yaml("models/marts/exposures.yml");
    let exposures = doc["exposures"].as_vec().unwrap();
    assert_eq!(exposures.len(), 1);
    let e = &exposures[0];
    assert_eq!(str_of(e, "type"), Some("dashboard"));
    assert!(str_of(&e["owner"], "email").is_some());
    assert!(!strings(&e["depends_on"]).is_empty());
}
