//! End to end on embedded DuckDB: load the raw data, build the project's models from their SQL,
//! and check that the marts agree with the raw data.

use strata_demo::{PROJECT_FILES, load};
use strata_warehouse::{DuckDb, Value, Warehouse};

/// The models in build order, with how they are materialised (as `dbt_project.yml` says).
const MODELS: [(&str, &str); 5] = [
    ("models/staging/stg_customers.sql", "view"),
    ("models/staging/stg_orders.sql", "view"),
    ("models/staging/stg_payments.sql", "view"),
    ("models/marts/orders.sql", "table"),
    ("models/marts/customers.sql", "table"),
];

/// Just enough of dbt's rendering for these models: `source('raw', 'x')` and `ref('x')`.
fn render(sql: &str) -> String {
    let mut out = sql.to_string();
    for table in ["customers", "orders", "payments"] {
        out = out.replace(&format!("{{{{ source('raw', '{table}') }}}}"), &format!("raw.{table}"));
    }
    for model in ["stg_customers", "stg_orders", "stg_payments", "orders", "customers"] {
        out = out.replace(&format!("{{{{ ref('{model}') }}}}"), model);
    }
    assert!(!out.contains("{{"), "unrendered Jinja left in:\n{out}");
    out
}

fn one(w: &mut DuckDb, sql: &str) -> Value {
    let result = w.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(result.rows.len(), 1, "{sql}");
    result.rows[0][0].clone()
}

fn int(w: &mut DuckDb, sql: &str) -> i64 {
    match one(w, sql) {
        Value::Int(i) => i,
        other => panic!("{sql}: expected an integer, got {other:?}"),
    }
}

fn text(w: &mut DuckDb, sql: &str) -> String {
    match one(w, sql) {
        Value::Text(s) => s,
        other => panic!("{sql}: expected text, got {other:?}"),
    }
}

#[test]
fn the_models_build_on_the_generated_data() {
    let mut w = DuckDb::in_memory().unwrap();
    let stats = load(&mut w, 1).unwrap();
    let rows: Vec<_> = stats.tables.iter().map(|t| (t.name, t.rows)).collect();
    assert_eq!(rows, [("customers", 1_000), ("orders", 10_000), ("payments", 11_130)]);
    assert_eq!(int(&mut w, "select count(*) from raw.payments"), 11_130);

    for (path, materialized) in MODELS {
        let sql = PROJECT_FILES.iter().find(|(p, _)| *p == path).unwrap().1;
        let name = path.rsplit('/').next().unwrap().trim_end_matches(".sql");
        let ddl = format!("create {materialized} {name} as\n{}", render(sql));
        w.execute(&ddl)
            .unwrap_or_else(|e| panic!("building {name}: {e}\n{ddl}"));
    }

    // One row per order and per customer.
    assert_eq!(int(&mut w, "select count(*) from orders"), 10_000);
    assert_eq!(int(&mut w, "select count(distinct order_id) from orders"), 10_000);
    assert_eq!(int(&mut w, "select count(*) from customers"), 1_000);
    assert_eq!(
        int(&mut w, "select cast(sum(number_of_orders) as bigint) from customers"),
        10_000
    );
    // Money adds up to the cent, between the raw payments and both marts.
    let cents = "select cast(sum(amount) * 100 as bigint) from";
    assert_eq!(int(&mut w, &format!("{cents} raw.payments")), 100_725_261);
    assert_eq!(int(&mut w, &format!("{cents} orders")), 100_725_261);
    assert_eq!(
        int(
            &mut w,
            "select cast(sum(lifetime_value) * 100 as bigint) from customers"
        ),
        100_725_261
    );
    // Every order found its customer; only orders without payments (cancelled) lack an amount.
    assert_eq!(
        int(
            &mut w,
            "select count(*) from orders where country is null or segment is null"
        ),
        0
    );
    assert_eq!(
        int(&mut w, "select count(*) from orders where amount is null"),
        int(&mut w, "select count(*) from orders where status = 'cancelled'")
    );
    assert_eq!(
        int(&mut w, "select count(*) from orders where payment_method = 'none'"),
        int(
            &mut w,
            "select count(*) from orders where payment_count = 0 and status = 'cancelled'"
        )
    );
    // Clean-ups of staging.
    assert_eq!(
        int(&mut w, "select count(*) from customers where email <> lower(email)"),
        0
    );
    assert_eq!(
        int(&mut w, "select count(*) from customers where country <> upper(country)"),
        0
    );
    assert_eq!(int(&mut w, "select count(distinct country) from orders"), 8);
    // `ordered_at` is a date spanning the four years.
    assert_eq!(text(&mut w, "select typeof(ordered_at) from orders limit 1"), "DATE");
    assert_eq!(
        text(&mut w, "select cast(min(ordered_at) as varchar) from orders"),
        "2021-01-01"
    );
    assert_eq!(
        text(&mut w, "select cast(max(ordered_at) as varchar) from orders"),
        "2024-12-31"
    );
    assert_eq!(
        int(
            &mut w,
            "select count(*) from customers where signed_up_on > first_order_on"
        ),
        0
    );
    assert_eq!(
        int(&mut w, "select count(*) from orders where customer_order_number = 1"),
        { int(&mut w, "select count(*) from customers where number_of_orders > 0") }
    );
    // What the metrics compute, roughly: a plausible shop.
    let aov = int(&mut w, "select cast(avg(amount) as bigint) from orders");
    let median = int(&mut w, "select cast(median(amount) as bigint) from orders");
    assert!(
        (60..200).contains(&aov) && (30..aov).contains(&median),
        "average {aov}, median {median}"
    );
    let completed = int(
        &mut w,
        "select cast(sum(amount) as bigint) from orders where status = 'completed'",
    );
    assert!(completed > 900_000 && completed < 1_007_253, "{completed}");
}
