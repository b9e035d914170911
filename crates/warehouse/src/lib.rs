//! Warehouses Strata runs SQL on: embedded DuckDB and PostgreSQL.
//!
//! This is the only crate that links DuckDB (a long C++ build), so the compiler and the
//! manifest crates build and test without it. The API is synchronous; async callers (the
//! proxy) run it on a blocking thread.
//!
//! - [`Warehouse`] is the one interface: run statements, stream a query's rows, bulk-load a
//!   table. [`DuckDb`] and [`Postgres`] implement it.
//! - [`Value`] is a warehouse value as plain Rust, with its text form ([`Value::to_text`]).
//! - [`seed`] loads a dbt seed CSV into any warehouse, inferring column types as dbt does.
//!
//! Invariants: nothing here knows about the PostgreSQL wire protocol spoken to clients or
//! about HTTP; no result is ever collected in memory unless the caller asks for it
//! ([`Warehouse::query`]); errors carry the warehouse's own message (and SQLSTATE when the
//! warehouse has one) and no Rust internals.

mod decimal;
mod duck;
mod pg;
pub mod seed;
mod sql;
mod value;

pub use duck::DuckDb;
pub use pg::Postgres;
pub use value::{
    Column, ColumnType, ResultSet, Value, date_from_days, days_from_ymd, format_date, format_float, format_timestamp,
    parse_date, parse_timestamp, timestamp_from_parts,
};

/// An error from a warehouse, with the warehouse's own message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: String,
    /// The SQLSTATE the warehouse gave, when it gave one (PostgreSQL does, DuckDB does not).
    pub sqlstate: Option<String>,
}

impl Error {
    /// An error without a SQLSTATE.
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            sqlstate: None,
        }
    }

    /// An error with a SQLSTATE, e.g. `42P01`.
    pub fn with_sqlstate(message: impl Into<String>, sqlstate: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            sqlstate: Some(sqlstate.into()),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Interrupts the query running on a connection, from any thread; a no-op when none runs.
pub type Canceller = std::sync::Arc<dyn Fn() + Send + Sync>;

/// A connection to a warehouse.
///
/// `Send`, so that one connection can be moved to the blocking thread that uses it.
pub trait Warehouse: Send {
    /// `"duckdb"` or `"postgres"`: the dialect to compile for.
    fn kind(&self) -> &'static str;

    /// Runs statements that return no rows (DDL, DML); several may be separated by `;`.
    fn execute(&mut self, sql: &str) -> Result<(), Error>;

    /// Runs one query and collects its rows.
    fn query(&mut self, sql: &str) -> Result<ResultSet, Error> {
        let mut columns = Vec::new();
        let mut rows = Vec::new();
        self.query_each(sql, &mut |cols| columns = cols.to_vec(), &mut |row| {
            rows.push(row);
            Ok(())
        })?;
        Ok(ResultSet { columns, rows })
    }

    /// Runs one query and hands its rows over one at a time, without holding them all:
    /// `on_columns` is called once before the first row. Returning an error from `on_row`
    /// stops the query.
    fn query_each(
        &mut self,
        sql: &str,
        on_columns: &mut dyn FnMut(&[Column]),
        on_row: &mut dyn FnMut(Vec<Value>) -> Result<(), Error>,
    ) -> Result<(), Error>;

    /// The columns one query would return, without running it. Statements that return no
    /// rows describe as no columns.
    fn describe(&mut self, sql: &str) -> Result<Vec<Column>, Error>;

    /// A handle that interrupts this connection's running query from another thread (the
    /// proxy's CancelRequest and query timeout), when the warehouse can do that.
    fn canceller(&self) -> Option<Canceller> {
        None
    }

    /// Creates (or replaces) `schema.table` with the given columns and loads the rows in bulk.
    fn load_table(
        &mut self,
        schema: Option<&str>,
        table: &str,
        columns: &[Column],
        rows: &mut dyn Iterator<Item = Vec<Value>>,
    ) -> Result<u64, Error>;
}
