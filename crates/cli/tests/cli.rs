//! The `strata` binary end to end: a real process, real DuckDB files, exit codes and output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("run strata")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn demo_builds_and_answers_metric_queries() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let d = demo.to_str().unwrap();
    let out = strata(&["demo", "--dir", d, "--scale", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("revenue"), "{}", text(&out));

    let out = strata(&["validate", d]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no problems found"), "{}", text(&out));

    let out = strata(&[
        "query",
        "--project",
        d,
        "--metrics",
        "order_count",
        "--grain",
        "year",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("date_year,order_count"));
    let total: i64 = lines
        .map(|l| l.split(',').nth(1).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 10_000, "scale 1 has 10,000 orders over all years:\n{csv}");

    let out = strata(&[
        "query",
        "--project",
        d,
        "--sql",
        "select count(*) as n from {{ ref('orders') }}",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "{\"n\":10000}");

    let out = strata(&["query", "--project", d, "--metrics", "revenue", "--grain", "hour"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("hour"), "{}", text(&out));
}

#[test]
fn compile_prints_sql_for_each_dialect_and_rejects_unknown_ones() {
    let fixture = workspace().join("crates/compile/tests/fixtures/shop");
    let p = fixture.to_str().unwrap();
    let sql = "select * from {{ metrics.calculate(metric('revenue'), grain='month', dimensions=['status']) }}";
    let out = strata(&["compile", "--project", p, "--dialect", "postgres", sql]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out)
            .contains("cast(date_trunc('month', cast(cast(base_model.ordered_at as date) as timestamp)) as date)"),
        "{}",
        text(&out)
    );
    let out = strata(&["compile", "--project", p, "--dialect", "oracle", sql]);
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown dialect 'oracle'"), "{}", text(&out));
}

#[test]
fn validate_lists_every_problem_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("models")).unwrap();
    std::fs::write(root.join("dbt_project.yml"), "name: broken\nconfig-version: 2\n").unwrap();
    std::fs::write(root.join("models/orders.sql"), "select 1 as amount").unwrap();
    std::fs::write(
        root.join("models/metrics.yml"),
        "version: 2\nmetrics:\n  - name: a\n    model: ref('orders')\n    calculation_method: total\n    expression: amount\n  - name: b\n    calculation_method: derived\n    expression: \"{{ metric('zzz') }}\"\n",
    )
    .unwrap();
    let out = strata(&["validate", root.to_str().unwrap()]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("models/metrics.yml:5: metric 'a', field 'calculation_method': unknown calculation method 'total'"),
        "{t}"
    );
    assert!(
        t.contains("metric 'b', field 'expression': depends on a metric named 'zzz'"),
        "{t}"
    );

    std::fs::write(root.join("models/metrics.yml"), "metrics: [\n").unwrap();
    let out = strata(&["validate", root.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("models/metrics.yml:"), "{}", text(&out));
    assert!(text(&out).contains("invalid YAML"), "{}", text(&out));
}

/// The conformance runner as a user runs it, printing its "N passed, M failed" line.
fn conformance(extra: &[&str]) {
    let mut dirs = Vec::new();
    let shared = workspace().join("../shared/conformance/cases");
    if shared.is_dir() {
        dirs.push(shared);
    } else {
        eprintln!(
            "NOTICE: {} not found; running Strata's own cases only",
            shared.display()
        );
    }
    dirs.push(workspace().join("tests/cases"));
    let mut args: Vec<&str> = vec!["conformance"];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap()));
    args.extend(extra);
    let out = strata(&args);
    let t = text(&out);
    println!("{t}");
    assert!(out.status.success(), "{t}");
    assert!(t.contains(" passed, 0 failed"), "{t}");
}

#[test]
fn conformance_on_duckdb() {
    conformance(&[]);
}

#[test]
fn conformance_on_postgres() {
    match std::env::var("STRATA_TEST_PG") {
        Ok(pg) => conformance(&["--postgres", &pg]),
        Err(_) => eprintln!("NOTICE: STRATA_TEST_PG not set; skipping the PostgreSQL conformance run"),
    }
}
