//! Runs the conformance cases: the shared ones (`../shared/conformance/cases`, skipped with a
//! notice when absent) and Strata's own (`tests/cases`), on DuckDB and, when
//! `STRATA_TEST_PG` names a server, on PostgreSQL.

use std::path::{Path, PathBuf};
use strata_materialize::conformance::{CaseOutcome, find_cases, run_case};
use strata_warehouse::{DuckDb, Postgres, Warehouse};

fn shared_cases() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/cases");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "NOTICE: {} not found; skipping the shared conformance cases",
            dir.display()
        );
        None
    }
}

fn own_cases() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases")
}

fn report(label: &str, outcomes: &[CaseOutcome]) {
    let failed: Vec<&CaseOutcome> = outcomes.iter().filter(|o| !o.passed).collect();
    for f in &failed {
        eprintln!("FAIL {label} {}: {}", f.name, f.detail);
    }
    eprintln!(
        "conformance {label}: {} passed, {} failed",
        outcomes.len() - failed.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} conformance case(s) failed on {label}",
        failed.len()
    );
}

fn run_duckdb(dir: &Path) -> Vec<CaseOutcome> {
    find_cases(dir)
        .iter()
        .map(|case| {
            let mut duck = DuckDb::in_memory().expect("in-memory DuckDB");
            run_case(case, &mut duck, None)
        })
        .collect()
}

fn run_postgres(dir: &Path, conninfo: &str, prefix: &str) -> Vec<CaseOutcome> {
    let mut pg = Postgres::connect(conninfo).expect("connect to STRATA_TEST_PG");
    find_cases(dir)
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let schema = format!("{prefix}_{i}");
            pg.execute(&format!(
                "drop schema if exists {schema} cascade; create schema {schema}"
            ))
            .expect("schema");
            let outcome = run_case(case, &mut pg, Some(&schema));
            pg.execute(&format!("drop schema if exists {schema} cascade"))
                .expect("drop schema");
            outcome
        })
        .collect()
}

fn postgres() -> Option<String> {
    let v = std::env::var("STRATA_TEST_PG").ok();
    if v.is_none() {
        eprintln!("NOTICE: STRATA_TEST_PG not set; skipping the PostgreSQL conformance run");
    }
    v
}

#[test]
fn shared_cases_pass_on_duckdb() {
    if let Some(dir) = shared_cases() {
        let outcomes = run_duckdb(&dir);
        assert!(!outcomes.is_empty(), "no cases found in {}", dir.display());
        report("shared/duckdb", &outcomes);
    }
}

#[test]
fn own_cases_pass_on_duckdb() {
    let outcomes = run_duckdb(&own_cases());
    assert!(!outcomes.is_empty(), "no cases in tests/cases");
    report("own/duckdb", &outcomes);
}

#[test]
fn shared_cases_pass_on_postgres() {
    if let (Some(dir), Some(pg)) = (shared_cases(), postgres()) {
        report("shared/postgres", &run_postgres(&dir, &pg, "strata_shared_case"));
    }
}

#[test]
fn own_cases_pass_on_postgres() {
    if let Some(pg) = postgres() {
        report("own/postgres", &run_postgres(&own_cases(), &pg, "strata_own_case"));
    }
}
