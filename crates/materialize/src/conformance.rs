//! Runs conformance cases: small dbt projects with the results the legacy `dbt_metrics`
//! package produced (see `shared/conformance/README.md`).
//!
//! A case passes when its project builds and every checked model equals its expected seed
//! as a multiset of rows over the expected columns, or, for `expect: error`, when the build
//! fails with a clear error (not a crash or a wrong answer).

use crate::build;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_compile::{CompileOptions, Compiler};
use strata_warehouse::{ResultSet, Value, Warehouse};

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    pub name: String,
    pub passed: bool,
    /// For a failure, the first difference; for an expected error, the error.
    pub detail: String,
}

#[derive(Debug)]
struct Case {
    name: String,
    expect_error: bool,
    checks: Vec<(String, String)>,
}

fn read_case(dir: &Path) -> Result<Case, String> {
    let path = dir.join("case.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: invalid JSON: {e}", path.display()))?;
    let name = json["name"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| dir_name(dir));
    let expect_error = match json["expect"].as_str() {
        Some("pass") => false,
        Some("error") => true,
        other => {
            return Err(format!(
                "{}: 'expect' must be \"pass\" or \"error\", got {other:?}",
                path.display()
            ));
        }
    };
    let mut checks = Vec::new();
    for c in json["checks"].as_array().into_iter().flatten() {
        match (c["model"].as_str(), c["equals"].as_str()) {
            (Some(m), Some(e)) => checks.push((m.to_string(), e.to_string())),
            _ => return Err(format!("{}: each check needs 'model' and 'equals'", path.display())),
        }
    }
    Ok(Case {
        name,
        expect_error,
        checks,
    })
}

fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The case folders below `root` (a folder holding `case.json` is itself a case).
pub fn find_cases(root: &Path) -> Vec<PathBuf> {
    if root.join("case.json").is_file() {
        return vec![root.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    out.sort();
    out
}

/// Runs one case on `warehouse` (which should be empty, or use a fresh `schema`).
pub fn run_case(dir: &Path, warehouse: &mut dyn Warehouse, schema: Option<&str>) -> CaseOutcome {
    let case = match read_case(dir) {
        Ok(c) => c,
        Err(e) => {
            return CaseOutcome {
                name: dir_name(dir),
                passed: false,
                detail: e,
            };
        }
    };
    let outcome = |passed: bool, detail: String| CaseOutcome {
        name: case.name.clone(),
        passed,
        detail,
    };
    let project = match strata_manifest::load_project(dir) {
        Ok(p) => Arc::new(p),
        Err(diags) => {
            return if case.expect_error {
                outcome(true, diags.to_string())
            } else {
                outcome(false, format!("the project did not load: {diags}"))
            };
        }
    };
    let dialect = strata_compile::dialect_named(warehouse.kind()).unwrap_or(&strata_compile::DuckDb);
    let options = CompileOptions {
        dialect,
        target_schema: schema.map(str::to_string),
        ..CompileOptions::default()
    };
    let compiler = Compiler::new(project.clone(), options);
    match build(&compiler, warehouse) {
        Err(e) if case.expect_error => return outcome(true, e.to_string()),
        Err(e) => return outcome(false, format!("the build failed: {e}")),
        Ok(_) if case.expect_error => return outcome(false, "expected an error, but the project built".into()),
        Ok(_) => {}
    }
    for (model, expected) in &case.checks {
        // The expected rows are a seed's, or another model's (e.g. develop vs calculate).
        let expected_rows = if let Some(seed) = project.seeds.get(expected) {
            let Some(path) = &seed.path else {
                return outcome(
                    false,
                    format!("check {model}: the seed '{expected}' has no CSV file to compare with"),
                );
            };
            match read_expected(&project.root.join(path)) {
                Ok(r) => r,
                Err(e) => return outcome(false, e),
            }
        } else if project.models.contains_key(expected) {
            let relation = compiler.relation(expected).unwrap_or_else(|| expected.clone());
            match warehouse.query(&format!("select * from {relation}")) {
                Ok(r) => Expected {
                    header: r.columns.iter().map(|c| c.name.clone()).collect(),
                    rows: r
                        .rows
                        .iter()
                        .map(|row| row.iter().map(Value::to_text).collect())
                        .collect(),
                },
                Err(e) => return outcome(false, format!("check {model}: cannot read the model {expected}: {e}")),
            }
        } else {
            return outcome(
                false,
                format!("check {model}: there is no seed or model named '{expected}'"),
            );
        };
        let relation = compiler.relation(model).unwrap_or_else(|| model.clone());
        let actual = match warehouse.query(&format!("select * from {relation}")) {
            Ok(r) => r,
            Err(e) => return outcome(false, format!("check {model}: cannot read the model: {e}")),
        };
        if let Err(diff) = compare(&expected_rows, &actual) {
            return outcome(false, format!("check {model} = {expected}: {diff}"));
        }
    }
    outcome(true, String::new())
}

/// An expected seed: header and rows of text (an empty field is NULL).
struct Expected {
    header: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

fn read_expected(path: &Path) -> Result<Expected, String> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let header = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("{}: {e}", path.display()))?;
        rows.push(
            record
                .iter()
                .map(|f| if f.is_empty() { None } else { Some(f.to_string()) })
                .collect(),
        );
    }
    Ok(Expected { header, rows })
}

/// Compares as multisets over the expected columns; the error names the first difference.
fn compare(expected: &Expected, actual: &ResultSet) -> Result<(), String> {
    let mut columns = Vec::new();
    for h in &expected.header {
        match actual.columns.iter().position(|c| c.name.eq_ignore_ascii_case(h)) {
            Some(i) => columns.push(i),
            None => {
                let have: Vec<&str> = actual.columns.iter().map(|c| c.name.as_str()).collect();
                return Err(format!("the model has no column '{h}' (it has: {})", have.join(", ")));
            }
        }
    }
    if expected.rows.len() != actual.rows.len() {
        return Err(format!(
            "expected {} rows, got {}; first rows: {}",
            expected.rows.len(),
            actual.rows.len(),
            actual
                .rows
                .iter()
                .take(5)
                .map(|r| render_row(r, &columns))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    let mut used = vec![false; actual.rows.len()];
    for row in &expected.rows {
        let found = actual.rows.iter().enumerate().find(|(i, candidate)| {
            !used[*i]
                && row
                    .iter()
                    .zip(&columns)
                    .all(|(want, &col)| cell_matches(want.as_deref(), &candidate[col]))
        });
        match found {
            Some((i, _)) => used[i] = true,
            None => {
                let unmatched: Vec<String> = actual
                    .rows
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !used[*i])
                    .take(3)
                    .map(|(_, r)| render_row(r, &columns))
                    .collect();
                let want: Vec<&str> = row.iter().map(|c| c.as_deref().unwrap_or("NULL")).collect();
                return Err(format!(
                    "no row matches expected ({}) over ({}); unmatched rows include: {}",
                    want.join(", "),
                    expected.header.join(", "),
                    unmatched.join(" | ")
                ));
            }
        }
    }
    Ok(())
}

fn render_row(row: &[Value], columns: &[usize]) -> String {
    columns
        .iter()
        .map(|&c| row[c].to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether an actual value equals an expected CSV field: numbers to the precision written,
/// booleans and dates by value, text exactly.
pub fn cell_matches(expected: Option<&str>, actual: &Value) -> bool {
    let Some(want) = expected else {
        return matches!(actual, Value::Null);
    };
    let want = want.trim();
    match actual {
        Value::Null => false,
        Value::Bool(b) => match want.to_ascii_lowercase().as_str() {
            "true" | "t" | "1" => *b,
            "false" | "f" | "0" => !*b,
            _ => false,
        },
        Value::Int(_) | Value::Float(_) | Value::Numeric(_) => {
            let Ok(w) = want.parse::<f64>() else { return false };
            let Some(a) = actual.to_text().and_then(|t| t.parse::<f64>().ok()) else {
                return false;
            };
            let decimals = want.split_once('.').map_or(0, |(_, frac)| frac.len()) as i32;
            let tolerance = 0.5 * 10f64.powi(-decimals) + 1e-9 * w.abs().max(1.0);
            (a - w).abs() <= tolerance
        }
        Value::Date(_) | Value::Timestamp(_) => {
            let text = actual.to_text().unwrap_or_default();
            let date_part = |s: &str| s.split([' ', 'T']).next().unwrap_or_default().to_string();
            if want.len() <= 10 {
                // A date compares with a midnight timestamp.
                date_part(&text) == want
                    && (matches!(actual, Value::Date(_)) || text.len() <= 10 || text.ends_with("00:00:00"))
            } else {
                text.replace('T', " ") == want.replace('T', " ")
            }
        }
        Value::Text(t) => t == want,
    }
}
