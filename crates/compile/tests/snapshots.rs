//! dbt-SQL in, warehouse SQL out, for one query of every feature in every dialect.
//!
//! Each output is snapshotted (`insta`) so a change to the generated SQL is reviewed, and
//! parsed with sqlparser in its dialect so Strata never emits SQL its target cannot read.

mod common;
use common::compiler_for;
use sqlparser::dialect::{
    BigQueryDialect, DatabricksDialect, Dialect as ParserDialect, DuckDbDialect, PostgreSqlDialect, RedshiftSqlDialect,
    SnowflakeDialect,
};
use sqlparser::parser::Parser;
use strata_compile::{BigQuery, Databricks, Dialect, DuckDb, Postgres, Redshift, Snowflake};

const QUERIES: &[(&str, &str)] = &[
    (
        "sum_by_month",
        "metric('revenue'), grain='month', dimensions=['country']",
    ),
    ("count_distinct_no_grain", "metric('customers'), dimensions=['status']"),
    ("count_all_time", "metric('all_time_orders')"),
    (
        "average_and_median_quarter",
        "[metric('average_amount'), metric('median_amount')], grain='quarter'",
    ),
    (
        "two_models_joined",
        "[metric('revenue'), metric('refunds')], grain='month', dimensions=['country']",
    ),
    (
        "derived",
        "metric('revenue_per_customer'), grain='week', dimensions=['status']",
    ),
    (
        "derived_of_derived",
        "metric('net_revenue_share'), grain='year', dimensions=['country']",
    ),
    ("filtered_metric", "metric('completed_revenue'), grain='day'"),
    ("window", "metric('revenue_30d'), grain='week', dimensions=['country']"),
    (
        "dates_where_alias",
        "metric('revenue'), grain='month', start_date='2022-01-01', end_date='2022-12-31', where=\"country = 'France'\", date_alias='month'",
    ),
    (
        "period_over_period",
        "metric('revenue'), grain='month', secondary_calculations=[metrics.period_over_period(comparison_strategy='ratio', interval=1), metrics.period_over_period(comparison_strategy='difference', interval=12, alias='yoy')]",
    ),
    (
        "period_to_date",
        "metric('order_count'), grain='month', dimensions=['country'], secondary_calculations=[metrics.period_to_date(aggregate='sum', period='year'), metrics.period_to_date(aggregate='max', period='quarter')]",
    ),
    (
        "rolling_and_prior",
        "[metric('revenue'), metric('order_count')], grain='day', dimensions=['status', 'country'], secondary_calculations=[metrics.rolling(aggregate='average', interval=7, metric_list=['revenue']), metrics.rolling(aggregate='sum'), metrics.prior(interval=1)]",
    ),
    (
        "derived_with_secondary",
        "metric('net_revenue'), grain='month', secondary_calculations=[{'calculation': 'rolling', 'aggregate': 'sum', 'interval': 3}]",
    ),
];

fn dialects() -> Vec<(&'static dyn Dialect, Box<dyn ParserDialect>)> {
    vec![
        (&DuckDb, Box::new(DuckDbDialect {})),
        (&Postgres, Box::new(PostgreSqlDialect {})),
        (&Snowflake, Box::new(SnowflakeDialect {})),
        (&BigQuery, Box::new(BigQueryDialect {})),
        (&Redshift, Box::new(RedshiftSqlDialect {})),
        (&Databricks, Box::new(DatabricksDialect {})),
    ]
}

#[test]
fn every_feature_in_every_dialect() {
    let mut unparsable = Vec::new();
    for (dialect, parser_dialect) in dialects() {
        let compiler = compiler_for(dialect);
        for (name, args) in QUERIES {
            let sql = format!("select * from {{{{ metrics.calculate({args}) }}}}");
            let compiled = compiler
                .compile(&sql)
                .unwrap_or_else(|e| panic!("{} {name}: {e}", dialect.name()));
            if let Err(e) = Parser::parse_sql(parser_dialect.as_ref(), &compiled.sql) {
                unparsable.push(format!("{} {name}: {e}", dialect.name()));
            }
            insta::assert_snapshot!(format!("{}__{name}", dialect.name()), compiled.sql);
        }
    }
    assert!(
        unparsable.is_empty(),
        "generated SQL that its dialect cannot parse:\n{}",
        unparsable.join("\n")
    );
}

#[test]
fn plain_sql_passes_through_untouched() {
    let compiler = compiler_for(&DuckDb);
    let plain = "select * from orders where status = 'x'";
    assert_eq!(compiler.compile(plain).unwrap().sql, plain);
}

#[test]
fn ref_source_var_and_config() {
    let compiler = compiler_for(&Postgres);
    let c = compiler
        .compile("{{ config(materialized='table') }}select '{{ var('region') }}' as r, * from {{ ref('orders') }} where '{{ target.type }}' = 'postgres'")
        .unwrap();
    assert_eq!(c.sql, "select 'emea' as r, * from orders where 'postgres' = 'postgres'");
    assert_eq!(c.depends_on, vec!["orders"]);
    assert_eq!(c.materialized, Some(strata_manifest::Materialization::Table));
}

#[test]
fn metric_queries_record_their_models_as_dependencies() {
    let c = compiler_for(&DuckDb)
        .compile("select * from {{ metrics.calculate([metric('net_revenue')], grain='month') }}")
        .unwrap();
    assert_eq!(c.depends_on, vec!["orders", "refunds"]);
    assert_eq!(c.metrics, vec!["net_revenue"]);
}
