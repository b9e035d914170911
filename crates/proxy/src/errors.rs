//! SQLSTATEs for Strata's own errors and for warehouse errors that carry none.

use strata_compile::{CompileError, ErrorKind};

use crate::backend::PgError;

/// A compile error as the client sees it: unknown metric or relation 42P01, unknown
/// dimension 42703, bad argument 22023, Jinja syntax 42601, refused feature 0A000.
pub fn compile_error(e: &CompileError) -> PgError {
    let code = match e.kind {
        ErrorKind::UnknownMetric | ErrorKind::UnknownRelation => "42P01",
        ErrorKind::UnknownDimension => "42703",
        ErrorKind::InvalidArgument => "22023",
        ErrorKind::InvalidDefinition => "42P17",
        ErrorKind::Template => "42601",
        ErrorKind::Unsupported => "0A000",
        _ => "XX000",
    };
    PgError::error(code, e.to_string())
}

/// A warehouse error: its own SQLSTATE when it has one (PostgreSQL), otherwise one read from
/// DuckDB's error class.
pub fn warehouse_error(e: &strata_warehouse::Error) -> PgError {
    if let Some(code) = &e.sqlstate {
        return PgError::error(static_code(code), e.message.clone());
    }
    let m = e.message.as_str();
    let code = if m.starts_with("Catalog Error") {
        if m.contains("Function") || m.contains("Macro") {
            "42883"
        } else if m.contains("Schema") {
            "3F000"
        } else {
            "42P01"
        }
    } else if m.starts_with("Binder Error") {
        if m.contains("column") || m.contains("Column") {
            "42703"
        } else if m.contains("function") || m.contains("No function matches") {
            "42883"
        } else {
            "42P10"
        }
    } else if m.starts_with("Parser Error") || m.starts_with("Syntax Error") {
        "42601"
    } else if m.starts_with("Conversion Error") || m.starts_with("Invalid Input Error") {
        "22P02"
    } else if m.starts_with("Out of Range Error") {
        "22003"
    } else if m.starts_with("Division By Zero") || m.contains("Division by zero") {
        "22012"
    } else if m.starts_with("Constraint Error") {
        "23505"
    } else if m.starts_with("TransactionContext Error") {
        "25P02"
    } else if m.starts_with("INTERRUPT") || m.contains("Interrupted") {
        "57014"
    } else if m.starts_with("Not implemented Error") {
        "0A000"
    } else if m.starts_with("Permission Error") {
        "42501"
    } else if m.starts_with("Out of Memory Error") {
        "53200"
    } else {
        "XX000"
    };
    PgError::error(code, e.message.clone())
}

/// SQLSTATEs are five characters: keep a static copy of the common ones, else a generic code.
fn static_code(code: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "42P01", "42703", "42601", "42883", "22023", "22P02", "22012", "22003", "23505", "23502", "23503", "25P02",
        "57014", "0A000", "42501", "3F000", "3D000", "28P01", "28000", "40001", "40P01", "53300", "08006", "XX000",
        "42P10", "42804", "42P07", "42710", "55000", "57P01",
    ];
    KNOWN.iter().find(|k| **k == code).copied().unwrap_or_else(|| {
        // Leak-free fallback: the class of the code, which clients use for handling.
        match &code[..code.len().min(2)] {
            "22" => "22000",
            "23" => "23000",
            "42" => "42000",
            "53" => "53000",
            "57" => "57000",
            "08" => "08000",
            _ => "XX000",
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_warehouse::Error;

    #[test]
    fn duckdb_classes() {
        let code = |m: &str| warehouse_error(&Error::new(m)).code;
        assert_eq!(code("Catalog Error: Table with name nope does not exist!"), "42P01");
        assert_eq!(code("Binder Error: Referenced column \"x\" not found"), "42703");
        assert_eq!(code("Parser Error: syntax error at or near \"selec\""), "42601");
        assert_eq!(code("INTERRUPT Error: Interrupted!"), "57014");
        assert_eq!(warehouse_error(&Error::with_sqlstate("x", "42P01")).code, "42P01");
    }
}
