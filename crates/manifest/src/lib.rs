//! dbt project definitions: a project folder becomes an immutable, validated [`Project`].
//!
//! This crate is pure: it reads the project's files and nothing else (no network, no
//! warehouse, no async). Every problem it finds carries the file, line, and the metric or
//! field it concerns, so `strata validate` can list them all at once.

mod diagnostic;
mod metric;
mod project;
pub mod yaml;

pub use diagnostic::{Diagnostic, Diagnostics, Location};
pub use metric::{
    CalculationMethod, Filter, Metric, MetricConfig, STANDARD_GRAINS, Window, WindowPeriod, metric_ref_spans,
    metric_refs, name_problem, parse_metric, parse_ref,
};
pub use project::{Column, Exposure, Materialization, Model, Project, Seed, Source, load_project};
