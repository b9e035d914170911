//! dbt-SQL to warehouse SQL.
//!
//! A [`Compiler`] holds one immutable definitions snapshot and a dialect. It renders dbt's
//! Jinja (`ref`, `source`, `var`, `metric`, `metrics.calculate`, `metrics.develop`, ...) and
//! expands metric queries into plain SQL with one named CTE per step. It is pure and
//! synchronous: no I/O, no async, no warehouse. Introspection (`run_query`) is refused.
//!
//! The path of a metric query: [`jinja`](crate::jinja) turns the call's arguments into a
//! [`MetricQuery`]; [`plan`](crate::plan) checks it against the definitions and groups the
//! metrics; [`sql`](crate::sql) writes the SQL through a [`Dialect`].

mod compiler;
mod derived;
mod dialect;
mod error;
mod jinja;
mod plan;
mod query;
mod sql;

pub use compiler::{CompileOptions, Compiled, Compiler};
pub use dialect::{BigQuery, DIALECTS, Databricks, Dialect, DuckDb, Postgres, Redshift, Snowflake, dialect_named};
pub use error::{CompileError, ErrorKind};
pub use query::{Aggregate, Arg, Calculation, Comparison, MetricQuery, SecondaryCalculation, secondary_from_fields};
pub use sql::ident as quote_ident;
