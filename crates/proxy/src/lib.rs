//! Strata's SQL proxy: the PostgreSQL frontend/backend protocol (v3) in front of a warehouse.
//!
//! A connection goes through [`startup`] (TLS, the environment from SNI / `database` /
//! `options`, connection limits), then becomes one of two sessions:
//!
//! - [`engine`]: Strata is the server. It authenticates the user (SCRAM-SHA-256 or cleartext
//!   against a stored verifier), compiles dbt-SQL, runs it on the environment's warehouse
//!   (embedded DuckDB) on a blocking thread and streams the rows back.
//! - [`relay`]: pass-through to an upstream PostgreSQL server. Startup and authentication are
//!   relayed, so the client's own credentials reach the upstream; every message is forwarded
//!   as received except Query and Parse messages holding dbt-SQL, which are compiled first.
//!
//! Invariants: one connection's bad input or failure never affects another (each runs in its
//! own task, and nothing in it panics on input); results are never collected in memory;
//! the compiler is reached only through [`Environment::compiler`], so definitions can be
//! swapped under running connections.

mod cancel;
mod catalog;
mod engine;
mod errors;
mod pgvalue;
mod relay;
pub mod scram;
mod session;
pub mod sqltext;
mod startup;
mod stream;
pub mod tls;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use strata_compile::Compiler;
use strata_warehouse::Warehouse;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

pub use cancel::CancelRegistry;
pub use scram::Verifier;
pub use strata_wire::{backend, codec};

/// Opens a new warehouse connection for one client session.
pub type Connector = Arc<dyn Fn() -> Result<Box<dyn Warehouse>, strata_warehouse::Error> + Send + Sync>;

/// Where an environment's queries run.
#[derive(Clone)]
pub enum Backend {
    /// Strata is the server and runs queries itself (embedded DuckDB).
    Engine(Connector),
    /// Every message goes to an upstream PostgreSQL server.
    Upstream(Upstream),
}

/// An upstream PostgreSQL server for pass-through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    /// The database to ask the upstream for; `None` keeps the client's own `database`.
    pub database: Option<String>,
    pub connect_timeout: Duration,
}

/// A deployment environment as the proxy sees it.
pub struct Environment {
    /// The environment's proxy slug: SNI first label, `database` or `strata.environment`.
    pub slug: String,
    /// Whether the Semantic Layer is on; off refuses connections.
    pub semantic_layer: bool,
    compiler: RwLock<Arc<Compiler>>,
    pub backend: Backend,
}

impl Environment {
    pub fn new(slug: impl Into<String>, semantic_layer: bool, compiler: Compiler, backend: Backend) -> Environment {
        Environment {
            slug: slug.into(),
            semantic_layer,
            compiler: RwLock::new(Arc::new(compiler)),
            backend,
        }
    }

    /// The latest definitions. A query keeps the snapshot it started with.
    pub fn compiler(&self) -> Arc<Compiler> {
        self.compiler.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Serves new definitions from the next query on, without touching open connections.
    pub fn set_compiler(&self, compiler: Compiler) {
        *self.compiler.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(compiler);
    }
}

/// Settings of the proxy server.
#[derive(Clone)]
pub struct ProxyConfig {
    pub max_connections: usize,
    /// Close a connection that sent nothing for this long while idle.
    pub idle_timeout: Option<Duration>,
    /// Cancel a statement that runs longer than this (engine mode).
    pub query_timeout: Option<Duration>,
    /// The largest message a client may send.
    pub max_message_bytes: usize,
    /// How long shutdown waits for running queries.
    pub shutdown_grace: Duration,
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// How engine-mode users prove their password.
    pub auth: AuthMethod,
    /// Engine-mode users: name and SCRAM verifier.
    pub users: HashMap<String, Verifier>,
    /// Reported to clients as `server_version`.
    pub server_version: String,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            max_connections: 1000,
            idle_timeout: None,
            query_timeout: None,
            max_message_bytes: 64 << 20,
            shutdown_grace: Duration::from_secs(30),
            tls: None,
            auth: AuthMethod::ScramSha256,
            users: HashMap::new(),
            server_version: "15.0 (Strata)".to_string(),
        }
    }
}

/// The password exchange engine mode asks clients for (PostgreSQL's pg_hba method names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `scram-sha-256`: the password never crosses the wire.
    ScramSha256,
    /// `password`: cleartext, for clients without SCRAM; use it with TLS only.
    Password,
}

/// Everything a connection task needs, shared by all of them.
pub struct Shared {
    pub config: ProxyConfig,
    pub environments: HashMap<String, Arc<Environment>>,
    pub cancels: CancelRegistry,
    shutdown: watch::Receiver<bool>,
}

/// A running proxy: call [`Proxy::shutdown`] to stop accepting and drain.
pub struct Proxy {
    shutdown_tx: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts serving on `listener` in the current tokio runtime.
    pub fn start(listener: TcpListener, config: ProxyConfig, environments: Vec<Arc<Environment>>) -> Proxy {
        let (shutdown_tx, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            config,
            environments: environments.into_iter().map(|e| (e.slug.clone(), e)).collect(),
            cancels: CancelRegistry::default(),
            shutdown,
        });
        let task = tokio::spawn(accept_loop(listener, shared));
        Proxy { shutdown_tx, task }
    }

    /// Stops accepting, lets running queries finish (up to the grace period), closes idle
    /// connections, and returns when all are gone.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let limit = Arc::new(Semaphore::new(shared.config.max_connections));
    let mut tasks = JoinSet::new();
    let mut shutdown = shared.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = socket.set_nodelay(true);
                let permit = limit.clone().try_acquire_owned().ok();
                let shared = shared.clone();
                tasks.spawn(async move {
                    startup::handle(socket, peer, shared, permit).await;
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let grace = shared.config.shutdown_grace;
    let drained = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("{} connections still open after {grace:?}; closing them", tasks.len());
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}
