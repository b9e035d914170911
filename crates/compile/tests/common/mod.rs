//! Shared test helpers: the fixture project and compilers over it.

use std::path::PathBuf;
use std::sync::Arc;
use strata_compile::{CompileError, CompileOptions, Compiler, Dialect, DuckDb};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn compiler_for(dialect: &'static dyn Dialect) -> Compiler {
    let project = strata_manifest::load_project(&fixture("shop")).expect("the fixture project loads");
    Compiler::new(
        Arc::new(project),
        CompileOptions {
            dialect,
            ..CompileOptions::default()
        },
    )
}

pub fn compiler() -> Compiler {
    compiler_for(&DuckDb)
}

/// Compiles dbt-SQL that must fail, and returns the error.
#[allow(dead_code)]
pub fn error(sql: &str) -> CompileError {
    match compiler().compile(sql) {
        Ok(c) => panic!("expected an error, got SQL:\n{}", c.sql),
        Err(e) => e,
    }
}
