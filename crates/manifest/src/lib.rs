//! dbt project definitions: a project folder or a dbt `manifest.json` becomes an immutable,
//! validated [`Project`].
//!
//! This crate is pure: it reads the project's files (or the one manifest file) and nothing
//! else (no network, no warehouse, no async). Every problem it finds carries the file, line
//! (for JSON, the node's `unique_id` and field path instead), and the metric or field it
//! concerns, so `strata validate` can list them all at once.

mod diagnostic;
mod manifest_json;
mod metric;
mod project;
pub mod yaml;

pub use diagnostic::{Diagnostic, Diagnostics, Location};
pub use manifest_json::{MANIFEST_SCHEMA_VERSIONS, load_manifest_json};
pub use metric::{
    CalculationMethod, Filter, Metric, MetricConfig, STANDARD_GRAINS, Window, WindowPeriod, metric_ref_spans,
    metric_refs, name_problem, parse_metric, parse_ref,
};
pub use project::{Column, Exposure, Materialization, Model, Project, Relation, Seed, Source, load_project};

use std::path::Path;

/// Loads definitions from `path`: a dbt project folder (with [`load_project`]; a path to its
/// `dbt_project.yml` means its folder) or a `manifest.json` file such as
/// `target/manifest.json` (with [`load_manifest_json`]).
pub fn load_definitions(path: &Path) -> Result<Project, Diagnostics> {
    if path.is_dir() {
        return load_project(path);
    }
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if file_name == "dbt_project.yml" {
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return load_project(folder);
    }
    let problem = if !path.exists() {
        "no such file or folder; expected a dbt project folder or a manifest.json"
    } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        return load_manifest_json(path);
    } else {
        "expected a dbt project folder or a manifest.json file"
    };
    Err(Diagnostics(vec![Diagnostic::new(
        Location {
            file: path.to_path_buf(),
            line: 0,
        },
        problem,
    )]))
}
