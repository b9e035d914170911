//! Engine mode: Strata is the PostgreSQL server. Authenticates the user, then answers simple
//! and extended queries by compiling dbt-SQL and running it on the environment's warehouse.
//!
//! The warehouse connection is synchronous, so each statement runs on a blocking thread that
//! owns the connection while it runs and encodes rows straight into DataRow messages; batches
//! of rows cross a bounded channel to this task, which writes them to the socket. A slow
//! client therefore slows the query down instead of growing memory, and a portal with a row
//! limit simply stops reading the channel until the next Execute.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use strata_warehouse::{Column, ColumnType, Value, Warehouse};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::backend::{self, DataRowWriter, FieldDescription, PgError};
use crate::cancel::{CancelTarget, EngineCancel};
use crate::catalog::{self, Kind, Settings, TxCommand};
use crate::codec::Message;
use crate::session::{Conn, Stop};
use crate::startup::Started;
use crate::{Connector, Environment, Shared, errors, pgvalue, scram, sqltext};

/// Rows are sent to the client in batches of about this many bytes.
const BATCH_BYTES: usize = 64 * 1024;
/// Batches in flight between the query thread and the socket.
const CHANNEL_BATCHES: usize = 4;

pub async fn run(started: Started, shared: Arc<Shared>, connector: Connector) {
    let user = started.param("user").unwrap_or_default().to_string();
    let settings = Settings::new(&shared.config.server_version, &started.params);
    let environment = started.environment.clone();
    let mut conn = Conn::new(started.stream, started.buffered, shared.config.max_message_bytes);
    if let Err(e) = authenticate(&mut conn, &shared, &user).await {
        conn.fatal(e).await;
        return;
    }
    let warehouse = match tokio::task::spawn_blocking(move || connector()).await {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            conn.fatal(PgError::fatal("08006", format!("cannot open the warehouse: {e}")))
                .await;
            return;
        }
        Err(_) => {
            conn.fatal(PgError::fatal("XX000", "cannot open the warehouse")).await;
            return;
        }
    };
    let cancel = Arc::new(EngineCancel::default());
    cancel.set_interrupt(warehouse.canceller());
    let key = shared.cancels.register_new(CancelTarget::Engine(cancel.clone()));
    backend::auth_ok(&mut conn.out);
    for (name, value) in settings.reported() {
        backend::parameter_status(&mut conn.out, name, &value);
    }
    backend::backend_key_data(&mut conn.out, key.0, key.1);
    backend::ready_for_query(&mut conn.out, b'I');
    let mut session = Session {
        conn,
        shared: shared.clone(),
        environment,
        warehouse: Some(warehouse),
        cancel: cancel.clone(),
        statements: HashMap::new(),
        portals: HashMap::new(),
        tx: b'I',
        settings,
        skip_until_sync: false,
        catalog_ready: false,
    };
    let stop = session.serve().await;
    session.close_all().await;
    cancel.cancel();
    shared.cancels.remove(key);
    if let Some(e) = stop.error() {
        session.conn.fatal(e).await;
    }
}

async fn authenticate(conn: &mut Conn, shared: &Shared, user: &str) -> Result<(), PgError> {
    let failed = || PgError::fatal("28P01", format!("password authentication failed for user \"{user}\""));
    if user.is_empty() {
        return Err(PgError::fatal("28000", "no user name given in the startup packet"));
    }
    let verifier = shared.config.users.get(user);
    let next = async |conn: &mut Conn| -> Result<Bytes, PgError> {
        match conn.next(None, None).await {
            Ok(Message::Password(body)) => Ok(body),
            Ok(_) => Err(PgError::fatal("08P01", "expected a password message")),
            Err(_) => Err(PgError::fatal("08006", "connection closed during authentication")),
        }
    };
    if shared.config.auth == crate::AuthMethod::Password {
        backend::auth_cleartext(&mut conn.out);
        let body = next(conn).await?;
        let password = body.strip_suffix(b"\0").unwrap_or(&body);
        let password = std::str::from_utf8(password).map_err(|_| failed())?;
        return match verifier {
            Some(v) if v.matches(password) => Ok(()),
            _ => Err(failed()),
        };
    }
    backend::auth_sasl(&mut conn.out);
    let body = next(conn).await?;
    let (exchange, server_first) = scram::start(&body, verifier).map_err(|e| PgError::fatal("08P01", e))?;
    backend::auth_sasl_continue(&mut conn.out, server_first.as_bytes());
    let body = next(conn).await?;
    match exchange
        .finish(&body, verifier)
        .map_err(|e| PgError::fatal("08P01", e))?
    {
        Some(server_final) => {
            backend::auth_sasl_final(&mut conn.out, server_final.as_bytes());
            Ok(())
        }
        None => Err(failed()),
    }
}

/// A parsed statement of the extended protocol.
struct Prepared {
    /// Compiled, warehouse-ready SQL with `$n` placeholders.
    sql: String,
    param_types: Vec<u32>,
    kind: Kind,
}

/// A bound statement.
struct Portal {
    sql: String,
    kind: Kind,
    result_formats: Vec<i16>,
    running: Option<Running>,
    /// Rows sent so far, for the command tag.
    sent: u64,
    /// Rows go out as CopyData (COPY ... TO STDOUT), ending with CopyDone.
    copying: bool,
}

impl Portal {
    fn new(sql: String, kind: Kind, result_formats: Vec<i16>) -> Portal {
        Portal {
            sql,
            kind,
            result_formats,
            running: None,
            sent: 0,
            copying: false,
        }
    }
}

/// A query running on the blocking thread.
struct Running {
    rx: mpsc::Receiver<Chunk>,
    task: JoinHandle<Box<dyn Warehouse>>,
    columns: Vec<Column>,
    /// Encoded rows received but not yet sent (a row limit stopped in the middle of a batch).
    leftover: Bytes,
}

enum Chunk {
    Columns(Vec<Column>),
    Rows(Bytes),
    Done(Result<(), strata_warehouse::Error>),
}

/// How an Execute ended.
enum Outcome {
    /// All rows sent.
    Complete,
    /// The row limit was reached and more rows may follow.
    Suspended,
}

struct Session {
    conn: Conn,
    shared: Arc<Shared>,
    environment: Arc<Environment>,
    /// `None` while a statement runs (the blocking thread owns it).
    warehouse: Option<Box<dyn Warehouse>>,
    cancel: Arc<EngineCancel>,
    statements: HashMap<String, Prepared>,
    portals: HashMap<String, Portal>,
    tx: u8,
    settings: Settings,
    skip_until_sync: bool,
    /// Whether the catalog prelude has been created on this session's connection.
    catalog_ready: bool,
}

impl Session {
    /// Serves messages until the connection ends; says why it ended.
    async fn serve(&mut self) -> Stop {
        let mut shutdown = self.shared_shutdown();
        loop {
            let idle = self.tx == b'I' && !self.skip_until_sync;
            let message = match self
                .conn
                .next(
                    if idle { self.shared.config.idle_timeout } else { None },
                    if idle { Some(&mut shutdown) } else { None },
                )
                .await
            {
                Ok(m) => m,
                Err(stop) => return stop,
            };
            tracing::debug!(env = %self.environment.slug, "message {message:?}");
            if self.skip_until_sync && !matches!(message, Message::Sync | Message::Terminate) {
                continue;
            }
            let result = match message {
                Message::Query(sql) => {
                    self.simple_query(&sql).await;
                    backend::ready_for_query(&mut self.conn.out, self.tx);
                    Ok(())
                }
                Message::Parse { name, sql, param_types } => self.parse(name, &sql, param_types).await,
                Message::Bind {
                    portal,
                    statement,
                    param_formats,
                    params,
                    result_formats,
                } => {
                    self.bind(portal, &statement, &param_formats, &params, result_formats)
                        .await
                }
                Message::Describe { kind, name } => self.describe(kind, &name).await,
                Message::Execute { portal, max_rows } => self.execute(&portal, max_rows).await,
                Message::Close { kind, name } => {
                    if kind == b'S' {
                        self.statements.remove(&name);
                    } else {
                        self.close_portal(&name).await;
                    }
                    backend::close_complete(&mut self.conn.out);
                    Ok(())
                }
                Message::Sync => {
                    self.skip_until_sync = false;
                    if self.tx == b'I' {
                        // The implicit transaction ends: unnamed and other portals go with it.
                        self.close_all().await;
                    }
                    backend::ready_for_query(&mut self.conn.out, self.tx);
                    if self.conn.flush().await.is_err() {
                        return Stop::Closed;
                    }
                    Ok(())
                }
                Message::Flush => {
                    if self.conn.flush().await.is_err() {
                        return Stop::Closed;
                    }
                    Ok(())
                }
                Message::Terminate => return Stop::Closed,
                Message::Password(_) => Err(PgError::error("08P01", "unexpected password message")),
                Message::CopyData(_) | Message::CopyDone | Message::CopyFail(_) => {
                    Err(PgError::error("0A000", "COPY is not supported in engine mode"))
                }
                Message::FunctionCall => Err(PgError::error("0A000", "the function call protocol is not supported")),
            };
            if let Err(e) = result {
                self.fail(&e);
                self.skip_until_sync = true;
            }
            if self.warehouse.is_none() && !self.any_running() {
                // A query thread died with the connection: open a new one.
                if let Err(e) = self.reopen().await {
                    self.conn.error(&e);
                    let _ = self.conn.flush().await;
                    return Stop::Closed;
                }
            }
        }
    }

    fn shared_shutdown(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shared.shutdown.clone()
    }

    fn any_running(&self) -> bool {
        self.portals.values().any(|p| p.running.is_some())
    }

    async fn reopen(&mut self) -> Result<(), PgError> {
        let connector = match &self.environment.backend {
            crate::Backend::Engine(c) => c.clone(),
            crate::Backend::Upstream(_) => return Err(PgError::fatal("XX000", "not an engine environment")),
        };
        match tokio::task::spawn_blocking(move || connector()).await {
            Ok(Ok(w)) => {
                self.cancel.set_interrupt(w.canceller());
                self.warehouse = Some(w);
                Ok(())
            }
            _ => Err(PgError::fatal(
                "08006",
                "lost the warehouse connection and cannot reopen it",
            )),
        }
    }

    fn fail(&mut self, e: &PgError) {
        self.conn.error(e);
        if self.tx == b'T' {
            self.tx = b'E';
        }
    }

    /// Compiles dbt-SQL (when there is any) and adapts catalog syntax for the warehouse.
    fn compile(&self, sql: &str) -> Result<String, PgError> {
        let compiled = if sqltext::is_dbt_sql(sql) {
            self.environment
                .compiler()
                .compile(sql)
                .map_err(|e| errors::compile_error(&e))?
                .sql
        } else {
            sql.to_string()
        };
        Ok(catalog::rewrite_for_duckdb(&compiled).into_owned())
    }

    /// Before the first catalog query of a session: the catalog prelude.
    async fn prepare_catalog(&mut self, sql: &str) {
        if self.catalog_ready || !catalog::reads_catalog(sql) || self.warehouse.is_none() {
            return;
        }
        self.catalog_ready = true;
        if let Err(e) = self
            .with_warehouse(|w| w.execute(catalog::DUCKDB_CATALOG_PRELUDE))
            .await
        {
            tracing::warn!("catalog prelude failed: {}", e.message);
        }
    }

    async fn simple_query(&mut self, sql: &str) {
        let compiled = match self.compile(sql) {
            Ok(s) => s,
            Err(e) => return self.fail(&e),
        };
        self.prepare_catalog(&compiled).await;
        let statements = sqltext::split_statements(&compiled);
        if statements.is_empty() {
            backend::empty_query(&mut self.conn.out);
            return;
        }
        for statement in statements {
            let kind = catalog::classify(statement);
            if self.tx == b'E' && !matches!(kind, Kind::Transaction(TxCommand::Rollback | TxCommand::Commit)) {
                self.conn.error(&PgError::error(
                    "25P02",
                    "current transaction is aborted, commands ignored until end of transaction block",
                ));
                return;
            }
            let mut portal = Portal::new(statement.to_string(), kind, Vec::new());
            let result = async {
                self.describe_portal(&mut portal, true).await?;
                self.run_portal(&mut portal, 0).await
            }
            .await;
            self.finish_portal(&mut portal).await;
            if let Err(e) = result {
                self.fail(&e);
                return;
            }
        }
    }

    async fn parse(&mut self, name: String, sql: &str, param_types: Vec<u32>) -> Result<(), PgError> {
        let compiled = self.compile(sql)?;
        self.prepare_catalog(&compiled).await;
        let statements = sqltext::split_statements(&compiled);
        if statements.len() > 1 {
            return Err(PgError::error(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let sql = statements.first().copied().unwrap_or("").to_string();
        let kind = catalog::classify(&sql);
        // Declared types first, then the type a placeholder is cast to, else unspecified (0).
        let casts = sqltext::parameter_casts(&sql);
        let count = sqltext::parameter_count(&sql).max(param_types.len());
        let param_types = (0..count)
            .map(|i| match param_types.get(i) {
                Some(t) if *t != 0 => *t,
                _ => casts
                    .get(i)
                    .and_then(|c| c.as_deref())
                    .and_then(pgvalue::oid_of_type_name)
                    .unwrap_or(0),
            })
            .collect();
        self.statements.insert(name, Prepared { sql, param_types, kind });
        backend::parse_complete(&mut self.conn.out);
        Ok(())
    }

    async fn bind(
        &mut self,
        portal: String,
        statement: &str,
        param_formats: &[i16],
        params: &[Option<Bytes>],
        result_formats: Vec<i16>,
    ) -> Result<(), PgError> {
        let Some(prepared) = self.statements.get(statement) else {
            return Err(PgError::error(
                "26000",
                format!("prepared statement \"{statement}\" does not exist"),
            ));
        };
        let expected = prepared.param_types.len();
        if params.len() != expected {
            return Err(PgError::error(
                "08P01",
                format!(
                    "bind message supplies {} parameters, but prepared statement \"{statement}\" requires {expected}",
                    params.len()
                ),
            ));
        }
        let mut literals = Vec::with_capacity(params.len());
        for (i, value) in params.iter().enumerate() {
            let oid = prepared.param_types.get(i).copied().unwrap_or(0);
            literals.push(
                pgvalue::param_literal(value.as_deref(), is_binary(param_formats, i), oid, i + 1)
                    .map_err(|m| PgError::error("22P02", m))?,
            );
        }
        let sql = sqltext::substitute(&prepared.sql, &literals)
            .map_err(|n| PgError::error("08P01", format!("no value for parameter ${n}")))?;
        let kind = prepared.kind.clone();
        self.close_portal(&portal).await;
        self.portals.insert(portal, Portal::new(sql, kind, result_formats));
        backend::bind_complete(&mut self.conn.out);
        Ok(())
    }

    async fn describe(&mut self, kind: u8, name: &str) -> Result<(), PgError> {
        if kind == b'S' {
            let Some(prepared) = self.statements.get(name) else {
                return Err(PgError::error(
                    "26000",
                    format!("prepared statement \"{name}\" does not exist"),
                ));
            };
            let count = prepared.param_types.len();
            let types: Vec<u32> = prepared
                .param_types
                .iter()
                .map(|t| if *t == 0 { pgvalue::TEXT } else { *t })
                .collect();
            backend::parameter_description(&mut self.conn.out, &types);
            let fields = match &prepared.kind {
                Kind::Rows => {
                    let nulls = vec!["NULL".to_string(); count];
                    let sql = sqltext::substitute(&prepared.sql, &nulls).unwrap_or_default();
                    let columns = self.with_warehouse(move |w| w.describe(&sql)).await?;
                    Some(fields(&columns, &[]))
                }
                Kind::Show(name) => Some(show_fields(name)),
                _ => None,
            };
            match fields {
                Some(f) if !f.is_empty() => backend::row_description(&mut self.conn.out, &f),
                _ => backend::no_data(&mut self.conn.out),
            }
            return Ok(());
        }
        let Some(mut portal) = self.portals.remove(name) else {
            return Err(PgError::error("34000", format!("portal \"{name}\" does not exist")));
        };
        let result = self.describe_portal(&mut portal, false).await;
        if result.is_err() {
            self.finish_portal(&mut portal).await;
        }
        self.portals.insert(name.to_string(), portal);
        result
    }

    /// Sends the portal's RowDescription (or NoData). A row-returning portal starts running
    /// here: its columns are known once the warehouse has planned it.
    /// In a simple query (`simple`), statements without rows send nothing here.
    async fn describe_portal(&mut self, portal: &mut Portal, simple: bool) -> Result<(), PgError> {
        match &portal.kind {
            Kind::Rows => {
                if portal.running.is_none() {
                    self.start(portal).await?;
                }
                let columns = portal.running.as_ref().map(|r| r.columns.clone()).unwrap_or_default();
                if !columns.is_empty() {
                    backend::row_description(&mut self.conn.out, &fields(&columns, &portal.result_formats));
                } else if !simple {
                    backend::no_data(&mut self.conn.out);
                }
            }
            Kind::Show(name) => backend::row_description(&mut self.conn.out, &show_fields(name)),
            _ if !simple => backend::no_data(&mut self.conn.out),
            _ => {}
        }
        Ok(())
    }

    async fn execute(&mut self, name: &str, max_rows: i32) -> Result<(), PgError> {
        let Some(mut portal) = self.portals.remove(name) else {
            return Err(PgError::error("34000", format!("portal \"{name}\" does not exist")));
        };
        let limit = if max_rows > 0 { max_rows as u64 } else { 0 };
        let result = self.run_portal(&mut portal, limit).await;
        match result {
            Ok(Outcome::Suspended) => {
                backend::portal_suspended(&mut self.conn.out);
                self.portals.insert(name.to_string(), portal);
                Ok(())
            }
            Ok(Outcome::Complete) => {
                self.finish_portal(&mut portal).await;
                // Executing a completed portal again returns no rows, as in PostgreSQL.
                portal.kind = Kind::Ignored(String::new());
                self.portals.insert(name.to_string(), portal);
                Ok(())
            }
            Err(e) => {
                self.finish_portal(&mut portal).await;
                Err(e)
            }
        }
    }

    /// Runs (or continues) a portal, sending up to `limit` rows (0: all) and, when it
    /// completes, its CommandComplete.
    async fn run_portal(&mut self, portal: &mut Portal, limit: u64) -> Result<Outcome, PgError> {
        match portal.kind.clone() {
            Kind::Empty => {
                backend::empty_query(&mut self.conn.out);
                Ok(Outcome::Complete)
            }
            Kind::Ignored(tag) => {
                if !tag.is_empty() {
                    backend::command_complete(&mut self.conn.out, &tag);
                }
                Ok(Outcome::Complete)
            }
            Kind::Set { name, value } => {
                self.settings.set(&name, value);
                backend::command_complete(
                    &mut self.conn.out,
                    if portal.sql.trim_start().to_ascii_lowercase().starts_with("reset") {
                        "RESET"
                    } else {
                        "SET"
                    },
                );
                Ok(Outcome::Complete)
            }
            Kind::Show(name) => {
                let rows: Vec<(String, String)> = if name == "all" {
                    self.settings.all()
                } else {
                    match self.settings.get(&name) {
                        Some(v) => vec![(name.clone(), v.to_string())],
                        None => {
                            return Err(PgError::error(
                                "42704",
                                format!("unrecognized configuration parameter \"{name}\""),
                            ));
                        }
                    }
                };
                for (k, v) in &rows {
                    let mut row = DataRowWriter::new(&mut self.conn.out, if name == "all" { 2 } else { 1 });
                    if name == "all" {
                        row.value(k.as_bytes());
                    }
                    row.value(v.as_bytes());
                    row.finish();
                }
                backend::command_complete(&mut self.conn.out, "SHOW");
                Ok(Outcome::Complete)
            }
            Kind::Transaction(cmd) => {
                let was = self.tx;
                let sql = match cmd {
                    TxCommand::Begin if was != b'I' => {
                        backend::notice_response(
                            &mut self.conn.out,
                            &PgError::notice("25001", "there is already a transaction in progress"),
                        );
                        backend::command_complete(&mut self.conn.out, "BEGIN");
                        return Ok(Outcome::Complete);
                    }
                    TxCommand::Begin => "BEGIN TRANSACTION",
                    TxCommand::Commit | TxCommand::Rollback if was == b'I' => {
                        backend::notice_response(
                            &mut self.conn.out,
                            &PgError::notice("25P01", "there is no transaction in progress"),
                        );
                        backend::command_complete(
                            &mut self.conn.out,
                            if cmd == TxCommand::Commit { "COMMIT" } else { "ROLLBACK" },
                        );
                        return Ok(Outcome::Complete);
                    }
                    TxCommand::Commit if was == b'E' => "ROLLBACK",
                    TxCommand::Commit => "COMMIT",
                    TxCommand::Rollback => "ROLLBACK",
                };
                self.with_warehouse(move |w| w.execute(sql)).await?;
                self.tx = if cmd == TxCommand::Begin { b'T' } else { b'I' };
                // The tag is what ran: COMMIT of a failed transaction reports ROLLBACK.
                let tag = sql.split(' ').next().unwrap_or(sql);
                backend::command_complete(&mut self.conn.out, tag);
                Ok(Outcome::Complete)
            }
            Kind::Command(tag) => {
                let sql = portal.sql.clone();
                let count = self
                    .with_warehouse(move |w| {
                        let mut first = None;
                        w.query_each(&sql, &mut |_| {}, &mut |row| {
                            if first.is_none()
                                && let Some(Value::Int(n)) = row.first()
                            {
                                first = Some(*n);
                            }
                            Ok(())
                        })
                        .map(|()| first)
                    })
                    .await?;
                let n = count.unwrap_or(0);
                let tag = match tag.as_str() {
                    "INSERT" => format!("INSERT 0 {n}"),
                    "UPDATE" | "DELETE" => format!("{tag} {n}"),
                    _ => tag,
                };
                backend::command_complete(&mut self.conn.out, &tag);
                Ok(Outcome::Complete)
            }
            Kind::Rows => {
                if portal.running.is_none() {
                    self.start(portal).await?;
                }
                self.pump(portal, limit).await
            }
            Kind::CopyOut { query, csv, header } => {
                let format = CopyFormat { csv };
                let mut copy = Portal::new(query, Kind::Rows, Vec::new());
                self.start_as(&mut copy, Some(format)).await?;
                let columns = copy.running.as_ref().map(|r| r.columns.clone()).unwrap_or_default();
                backend::copy_out_response(&mut self.conn.out, columns.len());
                if header {
                    let names: Vec<Value> = columns.iter().map(|c| Value::Text(c.name.clone())).collect();
                    copy_line(&mut self.conn.out, &names, format);
                }
                copy.copying = true;
                let outcome = self.pump(&mut copy, 0).await;
                self.finish_portal(&mut copy).await;
                outcome
            }
        }
    }

    /// Starts a row-returning portal on the blocking thread and waits for its columns.
    async fn start(&mut self, portal: &mut Portal) -> Result<(), PgError> {
        self.start_as(portal, None).await
    }

    /// Starts a query whose rows go out as DataRows, or as CopyData lines for `copy`.
    async fn start_as(&mut self, portal: &mut Portal, copy: Option<CopyFormat>) -> Result<(), PgError> {
        let mut warehouse = self.take_warehouse()?;
        let (tx, mut rx) = mpsc::channel(CHANNEL_BATCHES);
        let sql = portal.sql.clone();
        let formats = portal.result_formats.clone();
        let cancel = self.cancel.clone();
        cancel.begin();
        let task = tokio::task::spawn_blocking(move || {
            let mut batch = BytesMut::with_capacity(BATCH_BYTES + 1024);
            // (type, binary?) per column; set by the columns callback, read by the row callback.
            let layout: std::cell::RefCell<Vec<(ColumnType, bool)>> = std::cell::RefCell::new(Vec::new());
            let gone = || strata_warehouse::Error::new("the client went away");
            let result = warehouse.query_each(
                &sql,
                &mut |columns| {
                    *layout.borrow_mut() = columns
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.ty.clone(), is_binary(&formats, i)))
                        .collect();
                    let _ = tx.blocking_send(Chunk::Columns(columns.to_vec()));
                },
                &mut |row| {
                    if cancel.requested() {
                        return Err(strata_warehouse::Error::new("INTERRUPT Error: canceled"));
                    }
                    match copy {
                        Some(format) => copy_line(&mut batch, &row, format),
                        None => {
                            let layout = layout.borrow();
                            let mut w = DataRowWriter::new(&mut batch, row.len());
                            for (i, v) in row.iter().enumerate() {
                                let (ty, binary) = layout.get(i).map_or((&ColumnType::Text, false), |(t, b)| (t, *b));
                                pgvalue::put_value(&mut w, v, ty, binary);
                            }
                            w.finish();
                        }
                    }
                    if batch.len() >= BATCH_BYTES {
                        tx.blocking_send(Chunk::Rows(batch.split().freeze()))
                            .map_err(|_| gone())?;
                    }
                    Ok(())
                },
            );
            if !batch.is_empty() && result.is_ok() {
                let _ = tx.blocking_send(Chunk::Rows(batch.split().freeze()));
            }
            let _ = tx.blocking_send(Chunk::Done(result));
            warehouse
        });
        let mut running = Running {
            rx: mpsc::channel(1).1,
            task,
            columns: Vec::new(),
            leftover: Bytes::new(),
        };
        // The first chunk is the columns, or the error that prevented the query.
        match rx.recv().await {
            Some(Chunk::Columns(columns)) => {
                running.columns = columns;
                running.rx = rx;
                portal.running = Some(running);
                Ok(())
            }
            Some(Chunk::Done(Err(e))) => {
                self.reclaim(running).await;
                Err(self.warehouse_error(&e, false))
            }
            _ => {
                self.reclaim(running).await;
                Err(PgError::error("XX000", "the query ended without a result"))
            }
        }
    }

    /// Sends rows of a running portal: up to `limit` (0: all).
    async fn pump(&mut self, portal: &mut Portal, limit: u64) -> Result<Outcome, PgError> {
        let deadline = self
            .shared
            .config
            .query_timeout
            .map(|d| tokio::time::Instant::now() + d);
        let mut timed_out = false;
        let mut sent_now: u64 = 0;
        loop {
            let Some(running) = portal.running.as_mut() else {
                return Ok(Outcome::Complete);
            };
            if !running.leftover.is_empty() {
                let mut data = std::mem::take(&mut running.leftover);
                if limit > 0 {
                    let (cut, rows) = split_rows(&data, limit - sent_now);
                    let rest = data.split_off(cut);
                    sent_now += rows;
                    portal.sent += rows;
                    running.leftover = rest;
                } else {
                    let rows = count_rows(&data);
                    sent_now += rows;
                    portal.sent += rows;
                }
                if self.conn.write_now(&data).await.is_err() {
                    return Err(PgError::fatal("08006", "the client went away"));
                }
                if limit > 0 && sent_now >= limit {
                    return Ok(Outcome::Suspended);
                }
                continue;
            }
            let chunk = match deadline {
                Some(deadline) if !timed_out => {
                    tokio::select! {
                        c = running.rx.recv() => c,
                        _ = tokio::time::sleep_until(deadline) => {
                            timed_out = true;
                            self.cancel.cancel();
                            continue;
                        }
                    }
                }
                _ => running.rx.recv().await,
            };
            match chunk {
                Some(Chunk::Rows(data)) => running.leftover = data,
                Some(Chunk::Columns(_)) => {}
                Some(Chunk::Done(result)) => {
                    if let Some(running) = portal.running.take() {
                        self.reclaim(running).await;
                    }
                    return match result {
                        Ok(()) if portal.copying => {
                            backend::copy_done(&mut self.conn.out);
                            backend::command_complete(&mut self.conn.out, &format!("COPY {}", portal.sent));
                            Ok(Outcome::Complete)
                        }
                        Ok(()) => {
                            backend::command_complete(&mut self.conn.out, &format!("SELECT {}", portal.sent));
                            Ok(Outcome::Complete)
                        }
                        Err(e) => Err(self.warehouse_error(&e, timed_out)),
                    };
                }
                None => {
                    if let Some(running) = portal.running.take() {
                        self.reclaim(running).await;
                    }
                    return Err(PgError::error("XX000", "the query thread ended unexpectedly"));
                }
            }
        }
    }

    fn warehouse_error(&self, e: &strata_warehouse::Error, timed_out: bool) -> PgError {
        let mapped = errors::warehouse_error(e);
        if mapped.code == "57014" || self.cancel.requested() {
            return PgError::error(
                "57014",
                if timed_out {
                    "canceling statement due to statement timeout"
                } else {
                    "canceling statement due to user request"
                },
            );
        }
        mapped
    }

    /// Stops a portal's query, if it runs, and takes the warehouse back.
    async fn finish_portal(&mut self, portal: &mut Portal) {
        if let Some(mut running) = portal.running.take() {
            self.cancel.cancel();
            // Closing the channel stops a query thread that waits to send.
            running.rx.close();
            self.reclaim(running).await;
        }
    }

    /// The warehouse connection, for one statement; an error while a portal holds it.
    fn take_warehouse(&mut self) -> Result<Box<dyn Warehouse>, PgError> {
        self.warehouse.take().ok_or_else(|| {
            PgError::error(
                "55000",
                "another portal is still running on this connection; close it first",
            )
        })
    }

    /// Waits for a query thread to end and takes its warehouse connection back.
    async fn reclaim(&mut self, running: Running) {
        self.warehouse = running.task.await.ok();
        self.cancel.end();
    }

    async fn close_portal(&mut self, name: &str) {
        if let Some(mut portal) = self.portals.remove(name) {
            self.finish_portal(&mut portal).await;
        }
    }

    async fn close_all(&mut self) {
        let names: Vec<String> = self.portals.keys().cloned().collect();
        for name in names {
            self.close_portal(&name).await;
        }
    }

    /// Runs `f` with the warehouse connection on a blocking thread.
    async fn with_warehouse<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut dyn Warehouse) -> Result<T, strata_warehouse::Error> + Send + 'static,
    ) -> Result<T, PgError> {
        let mut warehouse = self.take_warehouse()?;
        self.cancel.begin();
        let joined = tokio::task::spawn_blocking(move || {
            let r = f(warehouse.as_mut());
            (warehouse, r)
        })
        .await;
        self.cancel.end();
        match joined {
            Ok((w, r)) => {
                self.warehouse = Some(w);
                r.map_err(|e| self.warehouse_error(&e, false))
            }
            Err(_) => Err(PgError::error("XX000", "the warehouse call failed")),
        }
    }
}

/// How COPY ... TO STDOUT writes rows.
#[derive(Debug, Clone, Copy)]
struct CopyFormat {
    csv: bool,
}

/// One row as a CopyData message: PostgreSQL's text format (tab-separated, `\\N` for NULL,
/// backslash escapes) or CSV (comma-separated, quoted when needed, empty for NULL).
fn copy_line(out: &mut BytesMut, row: &[Value], format: CopyFormat) {
    use bytes::BufMut;
    out.put_u8(b'd');
    let at = out.len();
    out.put_i32(0);
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.put_u8(if format.csv { b',' } else { b'\t' });
        }
        let text = match v {
            Value::Bool(b) => Some(if *b { "t" } else { "f" }.to_string()),
            other => other.to_text(),
        };
        match (text, format.csv) {
            (None, true) => {}
            (None, false) => out.put_slice(b"\\N"),
            (Some(t), true) => {
                if t.contains([',', '"', '\n', '\r']) || t.is_empty() {
                    out.put_u8(b'"');
                    out.put_slice(t.replace('"', "\"\"").as_bytes());
                    out.put_u8(b'"');
                } else {
                    out.put_slice(t.as_bytes());
                }
            }
            (Some(t), false) => {
                for c in t.bytes() {
                    match c {
                        b'\\' => out.put_slice(b"\\\\"),
                        b'\t' => out.put_slice(b"\\t"),
                        b'\n' => out.put_slice(b"\\n"),
                        b'\r' => out.put_slice(b"\\r"),
                        c => out.put_u8(c),
                    }
                }
            }
        }
    }
    out.put_u8(b'\n');
    let len = (out.len() - at) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Whether value `i` is in binary format, by the protocol's rule for format-code lists: none
/// means all text, one applies to all, otherwise one per value.
fn is_binary(formats: &[i16], i: usize) -> bool {
    match formats {
        [] => false,
        [one] => *one == 1,
        many => many.get(i).copied() == Some(1),
    }
}

fn fields(columns: &[Column], formats: &[i16]) -> Vec<FieldDescription> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (type_oid, type_size) = pgvalue::type_of(&c.ty);
            FieldDescription {
                name: c.name.clone(),
                type_oid,
                type_size,
                format: i16::from(is_binary(formats, i)),
            }
        })
        .collect()
}

fn show_fields(name: &str) -> Vec<FieldDescription> {
    let text = |n: &str| FieldDescription {
        name: n.to_string(),
        type_oid: pgvalue::TEXT,
        type_size: -1,
        format: 0,
    };
    if name == "all" {
        vec![text("name"), text("setting")]
    } else {
        vec![text(name)]
    }
}

/// The byte length of the first `n` DataRow messages in `data` (or all of them), and how
/// many rows that is.
fn split_rows(data: &[u8], n: u64) -> (usize, u64) {
    let mut at = 0;
    let mut rows = 0;
    while rows < n && at + 5 <= data.len() {
        let len = u32::from_be_bytes([data[at + 1], data[at + 2], data[at + 3], data[at + 4]]) as usize;
        at += 1 + len;
        rows += 1;
    }
    (at.min(data.len()), rows)
}

fn count_rows(data: &[u8]) -> u64 {
    split_rows(data, u64::MAX).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_encoded_rows() {
        let mut b = BytesMut::new();
        for i in 0..3 {
            let mut w = DataRowWriter::new(&mut b, 1);
            w.value(format!("{i}").as_bytes());
            w.finish();
        }
        let one = b.len() / 3;
        assert_eq!(split_rows(&b, 2), (2 * one, 2));
        assert_eq!(split_rows(&b, 5), (3 * one, 3));
        assert_eq!(count_rows(&b), 3);
    }
}
