//! What differs between warehouses, as capabilities of a [`Dialect`].
//!
//! The SQL builder never asks which warehouse it is writing for; it asks the dialect how to
//! truncate a date, add an interval, take a median or make a series of days.

use std::fmt;

/// A warehouse's SQL dialect.
pub trait Dialect: Send + Sync + fmt::Debug {
    /// The dbt adapter name (`target.type`).
    fn name(&self) -> &'static str;

    /// Quotes an identifier.
    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// `expr` (a date) truncated to the first day of its `grain` period, as a date.
    /// Weeks start on Monday.
    fn date_trunc(&self, grain: &str, expr: &str) -> String {
        format!("cast(date_trunc('{grain}', {expr}) as date)")
    }

    /// `expr` (a date) plus `count` `period`s (count may be negative), as a date.
    fn date_add(&self, period: &str, count: i64, expr: &str) -> String {
        format!("cast({expr} + interval '{count} {period}' as date)")
    }

    /// A date literal from `YYYY-MM-DD`.
    fn date_literal(&self, date: &str) -> String {
        format!("cast('{date}' as date)")
    }

    /// The median of `expr` as an aggregate.
    fn median(&self, expr: &str) -> String {
        format!("percentile_cont(0.5) within group (order by {expr})")
    }

    /// The name of a double-precision type.
    fn float_type(&self) -> &'static str {
        "double precision"
    }

    /// Null-safe equality.
    fn null_safe_eq(&self, a: &str, b: &str) -> String {
        format!("{a} is not distinct from {b}")
    }

    /// A SELECT of one column `date_day` with every day from `start` to `end` inclusive
    /// (both date expressions).
    fn day_series(&self, start: &str, end: &str) -> String;
}

/// Embedded DuckDB.
#[derive(Debug, Clone, Copy, Default)]
pub struct DuckDb;

impl Dialect for DuckDb {
    fn name(&self) -> &'static str {
        "duckdb"
    }
    fn median(&self, expr: &str) -> String {
        format!("median({expr})")
    }
    fn day_series(&self, start: &str, end: &str) -> String {
        format!(
            "select cast(generate_series as date) as date_day from generate_series(cast({start} as timestamp), cast({end} as timestamp), interval 1 day)"
        )
    }
}

/// PostgreSQL.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postgres;

impl Dialect for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }
    fn date_trunc(&self, grain: &str, expr: &str) -> String {
        // A plain date would resolve to the timestamptz overload and depend on the time zone.
        format!("cast(date_trunc('{grain}', cast({expr} as timestamp)) as date)")
    }
    fn day_series(&self, start: &str, end: &str) -> String {
        format!(
            "select cast(d as date) as date_day from generate_series(cast({start} as timestamp), cast({end} as timestamp), interval '1 day') as d"
        )
    }
}

/// Amazon Redshift (rendered, not executed here).
#[derive(Debug, Clone, Copy, Default)]
pub struct Redshift;

impl Dialect for Redshift {
    fn name(&self) -> &'static str {
        "redshift"
    }
    fn date_add(&self, period: &str, count: i64, expr: &str) -> String {
        format!("cast(dateadd({period}, {count}, {expr}) as date)")
    }
    fn median(&self, expr: &str) -> String {
        format!("median({expr})")
    }
    fn day_series(&self, start: &str, end: &str) -> String {
        // Redshift has no set-returning generate_series on tables; build days from row numbers.
        format!(
            "select cast(dateadd(day, n, {start}) as date) as date_day from (select row_number() over (order by true) - 1 as n from stv_blocklist limit 20000) as numbers where dateadd(day, n, {start}) <= {end}"
        )
    }
}

/// Snowflake (rendered, not executed here).
#[derive(Debug, Clone, Copy, Default)]
pub struct Snowflake;

impl Dialect for Snowflake {
    fn name(&self) -> &'static str {
        "snowflake"
    }
    fn date_trunc(&self, grain: &str, expr: &str) -> String {
        if grain == "week" {
            // date_trunc('week') follows the WEEK_START parameter; ISO weeks start on Monday.
            format!("cast(dateadd(day, 1 - dayofweekiso({expr}), {expr}) as date)")
        } else {
            format!("cast(date_trunc('{grain}', {expr}) as date)")
        }
    }
    fn date_add(&self, period: &str, count: i64, expr: &str) -> String {
        format!("cast(dateadd({period}, {count}, {expr}) as date)")
    }
    fn median(&self, expr: &str) -> String {
        format!("median({expr})")
    }
    fn float_type(&self) -> &'static str {
        "float"
    }
    fn null_safe_eq(&self, a: &str, b: &str) -> String {
        format!("equal_null({a}, {b})")
    }
    fn day_series(&self, start: &str, end: &str) -> String {
        format!(
            "select cast(dateadd(day, seq4(), {start}) as date) as date_day from table(generator(rowcount => 20000)) qualify date_day <= {end}"
        )
    }
}

/// Google BigQuery (rendered, not executed here).
#[derive(Debug, Clone, Copy, Default)]
pub struct BigQuery;

impl Dialect for BigQuery {
    fn name(&self) -> &'static str {
        "bigquery"
    }
    fn quote(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "\\`"))
    }
    fn date_trunc(&self, grain: &str, expr: &str) -> String {
        let part = if grain == "week" {
            "week(monday)".to_string()
        } else {
            grain.to_string()
        };
        format!("date_trunc(cast({expr} as date), {part})")
    }
    fn date_add(&self, period: &str, count: i64, expr: &str) -> String {
        format!("date_add(cast({expr} as date), interval {count} {period})")
    }
    fn median(&self, expr: &str) -> String {
        format!("approx_quantiles({expr}, 2)[offset(1)]")
    }
    fn float_type(&self) -> &'static str {
        "float64"
    }
    fn day_series(&self, start: &str, end: &str) -> String {
        format!("select date_day from unnest(generate_date_array({start}, {end}, interval 1 day)) as date_day")
    }
}

/// Databricks SQL (rendered, not executed here).
#[derive(Debug, Clone, Copy, Default)]
pub struct Databricks;

impl Dialect for Databricks {
    fn name(&self) -> &'static str {
        "databricks"
    }
    fn quote(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "``"))
    }
    fn date_add(&self, period: &str, count: i64, expr: &str) -> String {
        format!("cast(timestampadd({period}, {count}, {expr}) as date)")
    }
    fn median(&self, expr: &str) -> String {
        format!("percentile({expr}, 0.5)")
    }
    fn float_type(&self) -> &'static str {
        "double"
    }
    fn null_safe_eq(&self, a: &str, b: &str) -> String {
        format!("{a} <=> {b}")
    }
    fn day_series(&self, start: &str, end: &str) -> String {
        format!("select explode(sequence({start}, {end}, interval 1 day)) as date_day")
    }
}

/// The dialect for a dbt adapter name.
pub fn dialect_named(name: &str) -> Option<&'static dyn Dialect> {
    Some(match name {
        "duckdb" => &DuckDb,
        "postgres" | "postgresql" => &Postgres,
        "redshift" => &Redshift,
        "snowflake" => &Snowflake,
        "bigquery" => &BigQuery,
        "databricks" | "spark" => &Databricks,
        _ => return None,
    })
}

/// The names [`dialect_named`] knows.
pub const DIALECTS: &[&str] = &["duckdb", "postgres", "redshift", "snowflake", "bigquery", "databricks"];
