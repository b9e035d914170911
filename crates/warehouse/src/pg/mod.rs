//! The PostgreSQL warehouse, over the synchronous `postgres` client (no TLS).
//!
//! Queries are prepared first, which gives the result columns even when there are no rows;
//! rows then stream in the binary format one at a time. Columns of types Strata does not read
//! in binary (interval, arrays, ranges, ...) are cast to `text` by nesting the query in a
//! `WITH`; a statement that cannot be nested (`SHOW`, `EXPLAIN`, ...) runs over the simple
//! query protocol instead, whose rows arrive as text and are collected first. Tables are loaded
//! with `COPY ... FROM STDIN`.

mod copy;
mod decode;

use std::io::Write;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, NoTls, SimpleQueryMessage, Statement};

use crate::sql::{postgres_type, qualified, quote_ident, trim_query};
use crate::{Column, ColumnType, Error, Value, Warehouse};
use decode::{Decoder, PgValue, classify};

/// A connection to a PostgreSQL server.
pub struct Postgres {
    client: Client,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").finish_non_exhaustive()
    }
}

impl Postgres {
    /// Connects with a libpq-style connection string (`host=... port=... user=... password=...
    /// dbname=...`) or a `postgresql://` URL, without TLS.
    pub fn connect(conn_str: &str) -> Result<Postgres, Error> {
        let client = Client::connect(conn_str, NoTls).map_err(pg_error)?;
        Ok(Postgres { client })
    }
}

impl Warehouse for Postgres {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn execute(&mut self, sql: &str) -> Result<(), Error> {
        self.client.batch_execute(sql).map_err(pg_error)
    }

    fn query_each(
        &mut self,
        sql: &str,
        on_columns: &mut dyn FnMut(&[Column]),
        on_row: &mut dyn FnMut(Vec<Value>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let stmt = self.client.prepare(sql).map_err(pg_error)?;
        let classified: Vec<(Column, Option<Decoder>)> = stmt
            .columns()
            .iter()
            .map(|c| {
                let (ty, decoder) = classify(c.type_());
                (Column::new(c.name(), ty), decoder)
            })
            .collect();
        let columns: Vec<Column> = classified.iter().map(|(c, _)| c.clone()).collect();
        if classified.iter().all(|(_, decoder)| decoder.is_some()) {
            return self.stream(&stmt, &columns, on_columns, on_row);
        }
        let aliases: Vec<String> = (0..columns.len()).map(|i| format!("strata_c{i}")).collect();
        let select: Vec<String> = classified
            .iter()
            .zip(&aliases)
            .map(|((_, decoder), alias)| match decoder {
                Some(_) => alias.clone(),
                None => format!("{alias}::text"),
            })
            .collect();
        let wrapped = format!(
            "WITH strata_q({}) AS (\n{}\n) SELECT {} FROM strata_q",
            aliases.join(", "),
            trim_query(sql),
            select.join(", ")
        );
        match self.client.prepare(&wrapped) {
            Ok(stmt) => self.stream(&stmt, &columns, on_columns, on_row),
            Err(_) => self.simple_query(sql, &columns, on_columns, on_row),
        }
    }

    fn describe(&mut self, sql: &str) -> Result<Vec<Column>, Error> {
        let stmt = self.client.prepare(sql).map_err(pg_error)?;
        Ok(stmt
            .columns()
            .iter()
            .map(|c| Column::new(c.name(), classify(c.type_()).0))
            .collect())
    }

    fn canceller(&self) -> Option<crate::Canceller> {
        let token = self.client.cancel_token();
        Some(std::sync::Arc::new(move || {
            let _ = token.cancel_query(postgres::NoTls);
        }))
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
        let target = qualified(schema, table);
        let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
        let defs: Vec<String> = columns
            .iter()
            .zip(&names)
            .map(|(c, name)| format!("{name} {}", postgres_type(&c.ty)))
            .collect();
        let mut ddl = String::new();
        if let Some(schema) = schema {
            ddl.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {};\n", quote_ident(schema)));
        }
        ddl.push_str(&format!(
            "DROP TABLE IF EXISTS {target} CASCADE;\nCREATE TABLE {target} ({});",
            defs.join(", ")
        ));

        let mut tx = self.client.transaction().map_err(pg_error)?;
        tx.batch_execute(&ddl).map_err(pg_error)?;
        let mut writer = tx
            .copy_in(&format!("COPY {target} ({}) FROM STDIN", names.join(", ")))
            .map_err(pg_error)?;
        let mut line = Vec::new();
        let mut count: u64 = 0;
        for row in rows {
            count += 1;
            if row.len() != columns.len() {
                // Dropping the writer unfinished aborts the COPY; the transaction rolls back.
                return Err(Error::new(format!(
                    "row {count} for {target} has {} values, expected {}",
                    row.len(),
                    columns.len()
                )));
            }
            line.clear();
            copy::encode_row(&row, &mut line);
            writer.write_all(&line).map_err(io_error)?;
        }
        let copied = writer.finish().map_err(pg_error)?;
        tx.commit().map_err(pg_error)?;
        Ok(copied)
    }
}

impl Postgres {
    fn stream(
        &mut self,
        stmt: &Statement,
        columns: &[Column],
        on_columns: &mut dyn FnMut(&[Column]),
        on_row: &mut dyn FnMut(Vec<Value>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut rows = self
            .client
            .query_raw(stmt, std::iter::empty::<&dyn ToSql>())
            .map_err(pg_error)?;
        on_columns(columns);
        let width = stmt.columns().len();
        while let Some(row) = rows.next().map_err(pg_error)? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(row.try_get::<_, PgValue>(i).map_err(pg_error)?.0);
            }
            on_row(values)?;
        }
        Ok(())
    }

    /// Runs a statement over the simple query protocol: every value arrives as text.
    fn simple_query(
        &mut self,
        sql: &str,
        columns: &[Column],
        on_columns: &mut dyn FnMut(&[Column]),
        on_row: &mut dyn FnMut(Vec<Value>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let messages = self.client.simple_query(sql).map_err(pg_error)?;
        on_columns(columns);
        for message in messages {
            if let SimpleQueryMessage::Row(row) = message {
                let mut values = Vec::with_capacity(row.len());
                for i in 0..row.len() {
                    let text = row.try_get(i).map_err(pg_error)?;
                    values.push(match (text, columns.get(i).map(|c| &c.ty)) {
                        (None, _) => Value::Null,
                        (Some(text), Some(ty)) => from_text(text, ty),
                        (Some(text), None) => Value::Text(text.to_string()),
                    });
                }
                on_row(values)?;
            }
        }
        Ok(())
    }
}

/// A value in PostgreSQL's text format, read as the column's type where that is simple.
fn from_text(text: &str, ty: &ColumnType) -> Value {
    let parsed = match ty {
        ColumnType::Boolean => match text {
            "t" => Some(Value::Bool(true)),
            "f" => Some(Value::Bool(false)),
            _ => None,
        },
        ColumnType::Integer | ColumnType::Int32 => text.parse().ok().map(Value::Int),
        ColumnType::Float => text.parse().ok().map(Value::Float),
        ColumnType::Numeric => Some(Value::Numeric(text.to_string())),
        ColumnType::Date => crate::parse_date(text).map(Value::Date),
        ColumnType::Timestamp => crate::parse_timestamp(text).map(Value::Timestamp),
        ColumnType::Text | ColumnType::Other(_) => None,
    };
    parsed.unwrap_or_else(|| Value::Text(text.to_string()))
}

/// The server's message (with its detail and hint) and SQLSTATE, or the client's message.
fn pg_error(e: postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => {
            let mut message = db.message().to_string();
            if let Some(detail) = db.detail() {
                message.push_str(&format!("\nDETAIL: {detail}"));
            }
            if let Some(hint) = db.hint() {
                message.push_str(&format!("\nHINT: {hint}"));
            }
            Error::with_sqlstate(message, db.code().code())
        }
        None => Error {
            message: e.to_string(),
            sqlstate: e.code().map(|code| code.code().to_string()),
        },
    }
}

/// A write to a COPY fails with the server's error inside an `io::Error`.
fn io_error(e: std::io::Error) -> Error {
    let message = e.to_string();
    match e.into_inner().map(|inner| inner.downcast::<postgres::Error>()) {
        Some(Ok(pg)) => pg_error(*pg),
        _ => Error::new(message),
    }
}
