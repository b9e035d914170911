//! Strata's server: reads the configuration, loads each environment's definitions, opens its
//! warehouse, and runs the SQL proxy until SIGTERM or Ctrl-C (then drains).
//!
//! With no environments configured it serves the zero-configuration demo: the demo shop
//! project and its generated DuckDB warehouse, environment `demo`, user `strata` with
//! password `strata`.

pub mod config;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_compile::{CompileOptions, Compiler};
use strata_proxy::{AuthMethod, Backend, Connector, Environment, Proxy, ProxyConfig, Upstream, Verifier};
use strata_warehouse::{DuckDb, Warehouse};

pub use config::{Config, EnvironmentConfig, WarehouseConfig};

/// The demo environment's slug and its user.
pub const DEMO_SLUG: &str = "demo";
pub const DEMO_USER: &str = "strata";
pub const DEMO_PASSWORD: &str = "strata";

/// Writes the demo project to `dir`, generates its data at `scale` into `dir/warehouse.duckdb`
/// and builds its models there. Returns the database path.
pub fn build_demo(dir: &Path, scale: u32) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    strata_demo::write_project(dir).map_err(|e| format!("cannot write the demo project to {}: {e}", dir.display()))?;
    let db = dir.join("warehouse.duckdb");
    let _ = std::fs::remove_file(&db);
    let _ = std::fs::remove_file(dir.join("warehouse.duckdb.wal"));
    let mut wh = DuckDb::open(&db).map_err(|e| format!("DuckDB file {}: {e}", db.display()))?;
    strata_demo::load(&mut wh, scale).map_err(|e| format!("loading demo data: {e}"))?;
    let compiler = compiler_for(dir, &strata_compile::DuckDb, None, None)?;
    strata_materialize::build(&compiler, &mut wh).map_err(|e| format!("building the demo models: {e}"))?;
    Ok(db)
}

/// A compiler over the definitions at `path` (project folder or manifest.json).
pub fn compiler_for(
    path: &Path,
    dialect: &'static dyn strata_compile::Dialect,
    schema: Option<String>,
    target_name: Option<String>,
) -> Result<Compiler, String> {
    let project =
        strata_manifest::load_definitions(path).map_err(|d| format!("definitions {}:\n{d}", path.display()))?;
    Ok(Compiler::new(
        Arc::new(project),
        CompileOptions {
            dialect,
            target_schema: schema,
            target_name: target_name.unwrap_or_else(|| "default".into()),
            env_vars: Default::default(),
        },
    ))
}

/// The configuration `strata serve` uses when none declares an environment: the demo in
/// `demo_dir` (generated on first use).
pub fn demo_config(mut config: Config, demo_dir: &Path) -> Result<Config, String> {
    let db = demo_dir.join("warehouse.duckdb");
    if !db.exists() || !demo_dir.join("dbt_project.yml").exists() {
        eprintln!(
            "generating the demo project and warehouse in {} ...",
            demo_dir.display()
        );
        build_demo(demo_dir, 1)?;
    }
    config.environments.push(EnvironmentConfig {
        slug: DEMO_SLUG.into(),
        semantic_layer: true,
        definitions: demo_dir.to_path_buf(),
        schema: None,
        target_name: None,
        warehouse: WarehouseConfig::Duckdb { path: db },
    });
    if config.users.is_empty() {
        config.users.push(config::UserConfig {
            name: DEMO_USER.into(),
            password_hash: Verifier::new(DEMO_PASSWORD).to_string(),
        });
    }
    Ok(config)
}

/// A server ready to run: environments loaded, warehouses open, port bound.
pub struct Server {
    listener: tokio::net::TcpListener,
    proxy_config: ProxyConfig,
    environments: Vec<Arc<Environment>>,
    pub local_addr: SocketAddr,
    /// One line per environment, for the banner.
    pub summary: Vec<String>,
}

impl Server {
    pub async fn bind(config: &Config) -> Result<Server, String> {
        let mut users = HashMap::new();
        for u in &config.users {
            let v = Verifier::parse(&u.password_hash).map_err(|e| format!("users '{}': password_hash: {e}", u.name))?;
            users.insert(u.name.clone(), v);
        }
        let tls = match (&config.server.tls_cert, &config.server.tls_key) {
            (Some(cert), Some(key)) => Some(strata_proxy::tls::server_config(cert, key)?),
            _ => None,
        };
        let s = &config.server;
        let secs = |n: u64| (n > 0).then(|| Duration::from_secs(n));
        let proxy_config = ProxyConfig {
            max_connections: s.max_connections,
            idle_timeout: secs(s.idle_timeout_secs),
            query_timeout: secs(s.query_timeout_secs),
            max_message_bytes: s.max_message_bytes,
            shutdown_grace: Duration::from_secs(s.shutdown_grace_secs),
            tls,
            auth: if s.auth == "password" {
                AuthMethod::Password
            } else {
                AuthMethod::ScramSha256
            },
            users,
            ..ProxyConfig::default()
        };
        let mut environments = Vec::new();
        let mut summary = Vec::new();
        for env in &config.environments {
            let (environment, line) = open_environment(env)
                .await
                .map_err(|e| format!("environment '{}': {e}", env.slug))?;
            environments.push(Arc::new(environment));
            summary.push(line);
        }
        let listener = tokio::net::TcpListener::bind(&s.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", s.listen))?;
        let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
        Ok(Server {
            listener,
            proxy_config,
            environments,
            local_addr,
            summary,
        })
    }

    /// Serves until `stop` resolves, then drains.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let proxy = Proxy::start(self.listener, self.proxy_config, self.environments);
        stop.await;
        eprintln!("shutting down: waiting for running queries ...");
        proxy.shutdown().await;
    }
}

async fn open_environment(env: &EnvironmentConfig) -> Result<(Environment, String), String> {
    let env = env.clone();
    tokio::task::spawn_blocking(move || {
        let state = if env.semantic_layer {
            ""
        } else {
            " (Semantic Layer off)"
        };
        match &env.warehouse {
            WarehouseConfig::Duckdb { path } => {
                let compiler = compiler_for(
                    &env.definitions,
                    &strata_compile::DuckDb,
                    env.schema.clone(),
                    env.target_name.clone(),
                )?;
                let root = DuckDb::open_for_serving(path).map_err(|e| e.to_string())?;
                let root = Mutex::new(root);
                let connector: Connector = Arc::new(move || {
                    let root = root.lock().unwrap_or_else(|e| e.into_inner());
                    root.try_clone().map(|w| Box::new(w) as Box<dyn Warehouse>)
                });
                let line = format!("{}: engine mode on DuckDB {}{state}", env.slug, path.display());
                Ok((
                    Environment::new(&env.slug, env.semantic_layer, compiler, Backend::Engine(connector)),
                    line,
                ))
            }
            WarehouseConfig::Postgres {
                host,
                port,
                database,
                connect_timeout_secs,
            } => {
                let compiler = compiler_for(
                    &env.definitions,
                    &strata_compile::Postgres,
                    env.schema.clone(),
                    env.target_name.clone(),
                )?;
                let upstream = Upstream {
                    host: host.clone(),
                    port: *port,
                    database: database.clone(),
                    connect_timeout: Duration::from_secs((*connect_timeout_secs).max(1)),
                };
                let line = format!("{}: pass-through to PostgreSQL {host}:{port}{state}", env.slug);
                Ok((
                    Environment::new(&env.slug, env.semantic_layer, compiler, Backend::Upstream(upstream)),
                    line,
                ))
            }
        }
    })
    .await
    .map_err(|e| format!("loading failed: {e}"))?
}

/// Resolves when the process gets SIGTERM or Ctrl-C.
pub async fn termination() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
