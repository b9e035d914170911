//! The embedded DuckDB warehouse.
//!
//! Queries stream: the statement runs with DuckDB's streaming result and rows are converted
//! one chunk at a time. Result columns of types [`Value`] does not map (TIME, INTERVAL, LIST,
//! STRUCT, BLOB, UUID, ...) are cast to VARCHAR inside DuckDB, by nesting the query in one
//! that casts them, so every value arrives as DuckDB prints it. Tables are loaded with the
//! Appender (see `load`). Extensions are never downloaded.

mod load;

use std::path::Path;

use duckdb::core::LogicalTypeId;
use duckdb::types::{TimeUnit, ValueRef};
use duckdb::{Config, Connection, Statement};

use crate::sql::trim_query;
use crate::{Column, ColumnType, Error, Value, Warehouse, decimal};

/// A connection to an embedded DuckDB database (a file, or in memory).
pub struct DuckDb {
    conn: Connection,
}

impl std::fmt::Debug for DuckDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuckDb").finish_non_exhaustive()
    }
}

impl DuckDb {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<DuckDb, Error> {
        let conn = Connection::open_with_flags(path, config()?)
            .map_err(|e| Error::new(format!("cannot open DuckDB database {}: {}", path.display(), e)))?;
        Ok(DuckDb { conn })
    }

    /// Opens the database file at `path` for serving queries: read-only, with no access to
    /// other files or the network (`read_csv('/etc/passwd')`, `ATTACH`, `COPY ... TO` fail).
    pub fn open_for_serving(path: &Path) -> Result<DuckDb, Error> {
        let config = config()?
            .access_mode(duckdb::AccessMode::ReadOnly)
            .and_then(|c| c.enable_external_access(false))
            .map_err(duck_error)?;
        let conn = Connection::open_with_flags(path, config)
            .map_err(|e| Error::new(format!("cannot open DuckDB database {}: {}", path.display(), e)))?;
        Ok(DuckDb { conn })
    }

    /// A new, empty in-memory database.
    pub fn in_memory() -> Result<DuckDb, Error> {
        let conn = Connection::open_in_memory_with_flags(config()?).map_err(duck_error)?;
        Ok(DuckDb { conn })
    }

    /// Another connection to the same database: one per thread or client session. (Opening the
    /// same file twice fails, and each [`DuckDb::in_memory`] is a database of its own.)
    pub fn try_clone(&self) -> Result<DuckDb, Error> {
        let conn = self.conn.try_clone().map_err(duck_error)?;
        Ok(DuckDb { conn })
    }
}

impl Warehouse for DuckDb {
    fn kind(&self) -> &'static str {
        "duckdb"
    }

    fn execute(&mut self, sql: &str) -> Result<(), Error> {
        self.conn.execute_batch(sql).map_err(duck_error)
    }

    fn query_each(
        &mut self,
        sql: &str,
        on_columns: &mut dyn FnMut(&[Column]),
        on_row: &mut dyn FnMut(Vec<Value>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut stmt = self.conn.prepare(sql).map_err(duck_error)?;
        let mapped: Vec<Mapped> = (0..stmt.column_count())
            .map(|i| Mapped::of(stmt.column_logical_type(i).id()))
            .collect();
        if mapped.iter().any(|m| matches!(m, Mapped::AsText(_)))
            && let Some((wrapped, columns)) = self.casting(sql, &mapped)
            && let Ok(mut casting) = self.conn.prepare(&wrapped)
        {
            return stream(&mut casting, Some(columns), on_columns, on_row);
        }
        // All columns map, or the statement cannot be nested (PRAGMA, CALL, ...): convert what
        // arrives.
        stream(&mut stmt, None, on_columns, on_row)
    }

    fn describe(&mut self, sql: &str) -> Result<Vec<Column>, Error> {
        // One plan: DESCRIBE gives names and type names together.
        if let Some(described) = self.describe_names(sql) {
            return Ok(described
                .into_iter()
                .map(|(name, type_name)| {
                    let ty = type_from_name(&type_name);
                    Column::new(name, ty)
                })
                .collect());
        }
        // Statements DESCRIBE does not take (PRAGMA, CALL, ...): plan them, names unknown.
        let stmt = self.conn.prepare(sql).map_err(duck_error)?;
        // Names from DESCRIBE: a statement's column names are only readable after it ran.
        let names = self.describe_names(sql).filter(|n| n.len() == stmt.column_count());
        Ok((0..stmt.column_count())
            .map(|i| {
                let logical = stmt.column_logical_type(i);
                let ty = match Mapped::of(logical.id()) {
                    Mapped::Native(ty) | Mapped::AsText(Some(ty)) => ty,
                    Mapped::AsText(None) => ColumnType::Other(format!("{logical:?}")),
                };
                let name = match &names {
                    Some(names) => names[i].0.clone(),
                    None => format!("column{i}"),
                };
                Column::new(name, ty)
            })
            .collect())
    }

    fn canceller(&self) -> Option<crate::Canceller> {
        let handle = self.conn.interrupt_handle();
        Some(std::sync::Arc::new(move || handle.interrupt()))
    }

    fn load_table(
        &mut self,
        schema: Option<&str>,
        table: &str,
        columns: &[Column],
        rows: &mut dyn Iterator<Item = Vec<Value>>,
    ) -> Result<u64, Error> {
        if columns.is_empty() {
            return Err(Error::new(format!("cannot create table {table} without columns")));
        }
        self.conn.execute_batch("BEGIN TRANSACTION").map_err(duck_error)?;
        let loaded = load::load(&self.conn, schema, table, columns, rows);
        let end = if loaded.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.conn.execute_batch(end).map_err(duck_error);
        let count = loaded?;
        ended?;
        Ok(count)
    }
}

impl DuckDb {
    /// The result columns' names and DuckDB type names, without running the query.
    fn describe_names(&self, sql: &str) -> Option<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare(&format!("DESCRIBE {}", trim_query(sql))).ok()?;
        let mut rows = stmt.query([]).ok()?;
        let mut described = Vec::new();
        while let Some(row) = rows.next().ok()? {
            described.push((row.get::<_, String>(0).ok()?, row.get::<_, String>(1).ok()?));
        }
        Some(described)
    }

    /// `sql` nested in a query that casts the columns DuckDB cannot hand over as [`Value`]s to
    /// VARCHAR, and the result columns with their original names and types; `None` when
    /// DESCRIBE does not take the statement.
    fn casting(&self, sql: &str, mapped: &[Mapped]) -> Option<(String, Vec<Column>)> {
        let described = self.describe_names(sql)?;
        if described.len() != mapped.len() {
            return None;
        }
        let aliases: Vec<String> = (0..mapped.len()).map(|i| format!("strata_c{i}")).collect();
        let select: Vec<String> = mapped
            .iter()
            .zip(&aliases)
            .map(|(m, alias)| match m {
                Mapped::AsText(_) => format!("CAST({alias} AS VARCHAR)"),
                Mapped::Native(_) => alias.clone(),
            })
            .collect();
        let wrapped = format!(
            "SELECT {} FROM (\n{}\n) AS strata_q({})",
            select.join(", "),
            trim_query(sql),
            aliases.join(", ")
        );
        let columns = mapped
            .iter()
            .zip(described)
            .map(|(m, (name, type_name))| {
                let ty = match m {
                    Mapped::Native(ty) | Mapped::AsText(Some(ty)) => ty.clone(),
                    Mapped::AsText(None) => ColumnType::Other(type_name),
                };
                Column::new(name, ty)
            })
            .collect();
        Some((wrapped, columns))
    }
}

/// The column type for a DuckDB type name as DESCRIBE prints it; the same mapping as
/// [`Mapped::of`] for logical type ids.
fn type_from_name(name: &str) -> ColumnType {
    let upper = name.to_ascii_uppercase();
    match upper.as_str() {
        "BOOLEAN" => ColumnType::Boolean,
        "TINYINT" | "SMALLINT" | "INTEGER" | "UTINYINT" | "USMALLINT" => ColumnType::Int32,
        "BIGINT" | "UINTEGER" => ColumnType::Integer,
        "UBIGINT" | "HUGEINT" | "UHUGEINT" => ColumnType::Numeric,
        "FLOAT" | "DOUBLE" => ColumnType::Float,
        "VARCHAR" => ColumnType::Text,
        "DATE" => ColumnType::Date,
        "TIMESTAMP" | "TIMESTAMP_S" | "TIMESTAMP_MS" | "TIMESTAMP_NS" | "TIMESTAMP WITH TIME ZONE" => {
            ColumnType::Timestamp
        }
        _ if upper.starts_with("DECIMAL") => ColumnType::Numeric,
        _ if upper.starts_with("ENUM") => ColumnType::Text,
        _ => ColumnType::Other(name.to_string()),
    }
}

/// How a result column reaches the caller.
#[derive(Debug, Clone, PartialEq)]
enum Mapped {
    /// As DuckDB hands it over.
    Native(ColumnType),
    /// Cast to VARCHAR in the query; `None` reports DuckDB's own type name.
    AsText(Option<ColumnType>),
}

impl Mapped {
    fn of(id: LogicalTypeId) -> Mapped {
        use LogicalTypeId as L;
        match id {
            L::Boolean => Mapped::Native(ColumnType::Boolean),
            L::Tinyint | L::Smallint | L::Integer | L::UTinyint | L::USmallint => Mapped::Native(ColumnType::Int32),
            L::Bigint | L::UInteger => Mapped::Native(ColumnType::Integer),
            // May not fit in 64 bits: such values arrive as Numeric.
            L::UBigint | L::Hugeint | L::UHugeint | L::Decimal => Mapped::Native(ColumnType::Numeric),
            L::Float | L::Double => Mapped::Native(ColumnType::Float),
            L::Varchar => Mapped::Native(ColumnType::Text),
            L::Date => Mapped::Native(ColumnType::Date),
            L::Timestamp | L::TimestampS | L::TimestampMs | L::TimestampNs | L::TimestampTZ => {
                Mapped::Native(ColumnType::Timestamp)
            }
            L::Enum => Mapped::AsText(Some(ColumnType::Text)),
            _ => Mapped::AsText(None),
        }
    }
}

/// Runs a prepared statement with a streaming result and hands over its rows.
fn stream(
    stmt: &mut Statement<'_>,
    columns: Option<Vec<Column>>,
    on_columns: &mut dyn FnMut(&[Column]),
    on_row: &mut dyn FnMut(Vec<Value>) -> Result<(), Error>,
) -> Result<(), Error> {
    drop(stmt.stream_arrow([]).map_err(duck_error)?);
    let width = stmt.column_count();
    let columns = match columns {
        Some(columns) => columns,
        None => {
            let names = stmt.column_names();
            names
                .into_iter()
                .enumerate()
                .map(|(i, name)| {
                    let ty = match Mapped::of(stmt.column_logical_type(i).id()) {
                        Mapped::Native(ty) | Mapped::AsText(Some(ty)) => ty,
                        Mapped::AsText(None) => ColumnType::Other(format!("{:?}", stmt.column_logical_type(i))),
                    };
                    Column::new(name, ty)
                })
                .collect()
        }
    };
    on_columns(&columns);
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next().map_err(duck_error)? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(from_duckdb(row.get_ref(i).map_err(duck_error)?));
        }
        on_row(values)?;
    }
    Ok(())
}

fn from_duckdb(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Boolean(b) => Value::Bool(b),
        ValueRef::TinyInt(i) => Value::Int(i.into()),
        ValueRef::SmallInt(i) => Value::Int(i.into()),
        ValueRef::Int(i) => Value::Int(i.into()),
        ValueRef::BigInt(i) => Value::Int(i),
        ValueRef::UTinyInt(i) => Value::Int(i.into()),
        ValueRef::USmallInt(i) => Value::Int(i.into()),
        ValueRef::UInt(i) => Value::Int(i.into()),
        ValueRef::UBigInt(i) => i64::try_from(i).map_or_else(|_| Value::Numeric(i.to_string()), Value::Int),
        ValueRef::HugeInt(i) => i64::try_from(i).map_or_else(|_| Value::Numeric(i.to_string()), Value::Int),
        ValueRef::UHugeInt(i) => i64::try_from(i).map_or_else(|_| Value::Numeric(i.to_string()), Value::Int),
        // Through its shortest text, so that REAL 0.1 reads 0.1 and not 0.10000000149011612.
        ValueRef::Float(f) => Value::Float(f.to_string().parse().unwrap_or(f64::from(f))),
        ValueRef::Double(f) => Value::Float(f),
        ValueRef::Decimal(d) => Value::Numeric(decimal::format_scaled(d.value(), u32::from(d.scale()))),
        ValueRef::Timestamp(unit, t) => Value::Timestamp(to_micros(unit, t)),
        ValueRef::Text(bytes) => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Date32(d) => Value::Date(d),
        ValueRef::Enum(..) => Value::Text(value.as_str().map(str::to_string).unwrap_or_default()),
        // Only statements that cannot be nested get here: their unmapped columns are not cast.
        ValueRef::Time64(unit, t) => Value::Text(format_time(to_micros(unit, t))),
        ValueRef::Interval { months, days, nanos } => Value::Text(format_interval(months, days, nanos / 1_000)),
        ValueRef::Blob(bytes) => Value::Text(
            bytes
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        char::from(b).to_string()
                    } else {
                        format!("\\x{b:02X}")
                    }
                })
                .collect(),
        ),
        other => Value::Text(format!("{other:?}")),
    }
}

fn to_micros(unit: TimeUnit, t: i64) -> i64 {
    match unit {
        TimeUnit::Second => t.saturating_mul(1_000_000),
        TimeUnit::Millisecond => t.saturating_mul(1_000),
        TimeUnit::Microsecond => t,
        TimeUnit::Nanosecond => t.div_euclid(1_000),
    }
}

/// `HH:MM:SS[.ffffff]`, as DuckDB prints a TIME.
fn format_time(micros: i64) -> String {
    let (seconds, fraction) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    let mut out = format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
    if fraction != 0 {
        out.push_str(&format!(".{fraction:06}"));
    }
    out
}

/// `1 year 2 months 3 days 04:05:06`, as DuckDB prints an INTERVAL.
fn format_interval(months: i32, days: i32, micros: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 || n == -1 { "" } else { "s" });
    let mut parts = Vec::new();
    let (years, months) = (i64::from(months) / 12, i64::from(months) % 12);
    if years != 0 {
        parts.push(plural(years, "year"));
    }
    if months != 0 {
        parts.push(plural(months, "month"));
    }
    if days != 0 {
        parts.push(plural(i64::from(days), "day"));
    }
    if micros != 0 || parts.is_empty() {
        let sign = if micros < 0 { "-" } else { "" };
        parts.push(format!("{sign}{}", format_time(micros.saturating_abs())));
    }
    parts.join(" ")
}

/// The database never downloads extensions: a query needing one that is not built in (ICU's
/// time zone functions, for one) fails instead of reaching out to the internet.
fn config() -> Result<Config, Error> {
    Config::default().enable_autoload_extension(false).map_err(duck_error)
}

pub(crate) fn duck_error(e: duckdb::Error) -> Error {
    Error::new(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_and_intervals_like_duckdb() {
        assert_eq!(format_time(3_723_000_000), "01:02:03");
        assert_eq!(format_time(1_500), "00:00:00.001500");
        assert_eq!(format_interval(0, 1, 0), "1 day");
        assert_eq!(
            format_interval(14, -3, 3_600_000_000),
            "1 year 2 months -3 days 01:00:00"
        );
        assert_eq!(format_interval(0, 0, 0), "00:00:00");
        assert_eq!(format_interval(0, 0, -1_000_000), "-00:00:01");
        assert_eq!(format_interval(-1, 0, 0), "-1 month");
    }
}
