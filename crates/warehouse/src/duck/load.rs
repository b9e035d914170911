//! Bulk loading into DuckDB.
//!
//! Rows are gathered into Arrow record batches of one DuckDB vector (2048 rows) and handed to
//! the Appender, which copies each column in one go; only one batch is held at a time. Columns
//! are created in the type the batch carries (BIGINT, DOUBLE, BOOLEAN, DATE, TIMESTAMP,
//! VARCHAR) and converted when every row is in: a `Numeric` column to a DECIMAL just wide
//! enough for the values loaded (DOUBLE past 38 digits), an `Other` column to its own type.

use std::sync::Arc;

use duckdb::Connection;
use duckdb::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use duckdb::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use duckdb::arrow::record_batch::RecordBatch;

use super::duck_error;
use crate::sql::{qualified, quote_ident};
use crate::{Column, ColumnType, Error, Value, decimal, format_float, parse_date, parse_timestamp};

const BATCH_ROWS: usize = 2048;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Creates (or replaces) the table and loads the rows; runs inside the caller's transaction.
pub(super) fn load(
    conn: &Connection,
    schema: Option<&str>,
    table: &str,
    columns: &[Column],
    rows: &mut dyn Iterator<Item = Vec<Value>>,
) -> Result<u64, Error> {
    let target = qualified(schema, table);
    let mut ddl = String::new();
    if let Some(schema) = schema {
        ddl.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {};\n", quote_ident(schema)));
    }
    let defs: Vec<String> = columns
        .iter()
        .map(|c| format!("{} {}", quote_ident(&c.name), staging_type(&c.ty).0))
        .collect();
    ddl.push_str(&format!("CREATE OR REPLACE TABLE {target} ({})", defs.join(", ")));
    conn.execute_batch(&ddl).map_err(duck_error)?;

    let schema_name = match schema {
        Some(schema) => schema.to_string(),
        None => conn
            .query_row("SELECT current_schema()", [], |row| row.get(0))
            .map_err(duck_error)?,
    };
    let arrow_schema: SchemaRef = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name.clone(), staging_type(&c.ty).1, true))
            .collect::<Vec<_>>(),
    ));
    let mut loads: Vec<ColumnLoad> = columns.iter().map(ColumnLoad::new).collect();
    let mut count: u64 = 0;
    let mut pending = 0;
    {
        let mut appender = conn.appender_to_db(table, &schema_name).map_err(duck_error)?;
        for row in rows {
            count += 1;
            if row.len() != columns.len() {
                return Err(Error::new(format!(
                    "row {count} for {target} has {} values, expected {}",
                    row.len(),
                    columns.len()
                )));
            }
            for (load, value) in loads.iter_mut().zip(&row) {
                if load.push(value).is_none() {
                    return Err(Error::new(format!(
                        "row {count} for {target}: {value} does not fit column {} of type {}",
                        load.column.name,
                        type_label(&load.column.ty)
                    )));
                }
            }
            pending += 1;
            if pending == BATCH_ROWS {
                append_batch(&mut appender, &arrow_schema, &mut loads)?;
                pending = 0;
            }
        }
        if pending > 0 {
            append_batch(&mut appender, &arrow_schema, &mut loads)?;
        }
        appender.flush().map_err(duck_error)?;
    }

    let mut alter = String::new();
    for load in &loads {
        let ty = match (&load.column.ty, load.shape) {
            (ColumnType::Numeric, None) => "DECIMAL(18,3)".to_string(),
            (ColumnType::Numeric, Some((int_digits, scale))) if int_digits + scale <= 38 => {
                format!("DECIMAL({},{scale})", (int_digits + scale).max(1))
            }
            (ColumnType::Numeric, Some(_)) => "DOUBLE".to_string(),
            (ColumnType::Other(name), _) => name.clone(),
            _ => continue,
        };
        let column = quote_ident(&load.column.name);
        alter.push_str(&format!(
            "ALTER TABLE {target} ALTER COLUMN {column} SET DATA TYPE {ty};\n"
        ));
    }
    if !alter.is_empty() {
        conn.execute_batch(&alter).map_err(duck_error)?;
    }
    Ok(count)
}

/// The type a column is created with, and the Arrow type that carries it.
fn staging_type(ty: &ColumnType) -> (&'static str, DataType) {
    match ty {
        ColumnType::Boolean => ("BOOLEAN", DataType::Boolean),
        ColumnType::Integer | ColumnType::Int32 => ("BIGINT", DataType::Int64),
        ColumnType::Float => ("DOUBLE", DataType::Float64),
        ColumnType::Date => ("DATE", DataType::Date32),
        ColumnType::Timestamp => ("TIMESTAMP", DataType::Timestamp(TimeUnit::Microsecond, None)),
        ColumnType::Numeric | ColumnType::Text | ColumnType::Other(_) => ("VARCHAR", DataType::Utf8),
    }
}

fn type_label(ty: &ColumnType) -> &str {
    match ty {
        ColumnType::Boolean => "BOOLEAN",
        ColumnType::Integer => "BIGINT",
        ColumnType::Int32 => "INTEGER",
        ColumnType::Float => "DOUBLE",
        ColumnType::Numeric => "DECIMAL",
        ColumnType::Text => "VARCHAR",
        ColumnType::Date => "DATE",
        ColumnType::Timestamp => "TIMESTAMP",
        ColumnType::Other(name) => name,
    }
}

fn append_batch(
    appender: &mut duckdb::Appender<'_>,
    schema: &SchemaRef,
    loads: &mut [ColumnLoad<'_>],
) -> Result<(), Error> {
    let arrays: Vec<ArrayRef> = loads.iter_mut().map(|load| load.builder.finish()).collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| Error::new(e.to_string()))?;
    appender.append_record_batch(batch).map_err(duck_error)
}

/// One column of the batch being gathered.
struct ColumnLoad<'a> {
    column: &'a Column,
    builder: Builder,
    /// For a Numeric column: the most integer digits and the largest scale seen.
    shape: Option<(usize, usize)>,
}

enum Builder {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
}

impl Builder {
    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

impl<'a> ColumnLoad<'a> {
    fn new(column: &'a Column) -> ColumnLoad<'a> {
        let builder = match &column.ty {
            ColumnType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(BATCH_ROWS)),
            ColumnType::Integer | ColumnType::Int32 => Builder::Int(Int64Builder::with_capacity(BATCH_ROWS)),
            ColumnType::Float => Builder::Float(Float64Builder::with_capacity(BATCH_ROWS)),
            ColumnType::Date => Builder::Date(Date32Builder::with_capacity(BATCH_ROWS)),
            ColumnType::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS)),
            ColumnType::Numeric | ColumnType::Text | ColumnType::Other(_) => {
                Builder::Text(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16))
            }
        };
        ColumnLoad {
            column,
            builder,
            shape: None,
        }
    }

    /// Adds a value; `None` when it cannot be a value of the column's type.
    fn push(&mut self, value: &Value) -> Option<()> {
        if value.is_null() {
            match &mut self.builder {
                Builder::Bool(b) => b.append_null(),
                Builder::Int(b) => b.append_null(),
                Builder::Float(b) => b.append_null(),
                Builder::Text(b) => b.append_null(),
                Builder::Date(b) => b.append_null(),
                Builder::Timestamp(b) => b.append_null(),
            }
            return Some(());
        }
        match &mut self.builder {
            Builder::Bool(b) => b.append_value(match value {
                Value::Bool(v) => *v,
                Value::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "t" => true,
                    "false" | "f" => false,
                    _ => return None,
                },
                _ => return None,
            }),
            Builder::Int(b) => b.append_value(match value {
                Value::Int(i) => *i,
                Value::Numeric(s) | Value::Text(s) => s.trim().parse().ok()?,
                _ => return None,
            }),
            Builder::Float(b) => b.append_value(match value {
                Value::Float(f) => *f,
                Value::Int(i) => *i as f64,
                Value::Numeric(s) | Value::Text(s) => s.trim().parse().ok()?,
                _ => return None,
            }),
            Builder::Date(b) => b.append_value(match value {
                Value::Date(d) => *d,
                Value::Text(s) => parse_date(s.trim())?,
                _ => return None,
            }),
            Builder::Timestamp(b) => b.append_value(match value {
                Value::Timestamp(t) => *t,
                Value::Date(d) => i64::from(*d) * MICROS_PER_DAY,
                Value::Text(s) => {
                    parse_timestamp(s.trim()).or_else(|| parse_date(s.trim()).map(|d| i64::from(d) * MICROS_PER_DAY))?
                }
                _ => return None,
            }),
            Builder::Text(b) if self.column.ty == ColumnType::Numeric => {
                let text = match value {
                    Value::Int(i) => i.to_string(),
                    Value::Float(f) if f.is_finite() => decimal::normalize(&format_float(*f))?,
                    Value::Numeric(s) | Value::Text(s) => decimal::normalize(s)?,
                    _ => return None,
                };
                let (int_digits, scale) = decimal::shape(&text);
                let widest = self.shape.get_or_insert((0, 0));
                *widest = (widest.0.max(int_digits), widest.1.max(scale));
                b.append_value(text);
            }
            Builder::Text(b) => match value {
                Value::Text(s) | Value::Numeric(s) => b.append_value(s),
                other => b.append_value(other.to_text()?),
            },
        }
        Some(())
    }
}
