//! Strata's configuration: a TOML file, every key of which can be set or overridden by an
//! environment variable `STRATA__<SECTION>__<KEY>` (array items by index), e.g.
//! `STRATA__SERVER__LISTEN=0.0.0.0:5433` or `STRATA__ENVIRONMENTS__0__WAREHOUSE__PORT=6432`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    /// Engine-mode users.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    #[serde(default)]
    pub environments: Vec<EnvironmentConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port of the SQL proxy.
    pub listen: String,
    pub max_connections: usize,
    /// Seconds an idle connection may stay silent; 0: forever.
    pub idle_timeout_secs: u64,
    /// Seconds a statement may run (engine mode); 0: no limit.
    pub query_timeout_secs: u64,
    /// The largest message a client may send, in bytes.
    pub max_message_bytes: usize,
    /// Seconds shutdown waits for running queries.
    pub shutdown_grace_secs: u64,
    /// PEM certificate chain and private key: TLS on when both are set.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `scram-sha-256` (default) or `password` (cleartext; use with TLS).
    pub auth: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:5433".into(),
            max_connections: 1000,
            idle_timeout_secs: 0,
            query_timeout_secs: 0,
            max_message_bytes: 64 << 20,
            shutdown_grace_secs: 30,
            tls_cert: None,
            tls_key: None,
            auth: "scram-sha-256".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// A SCRAM-SHA-256 verifier, as made by `strata hash-password`; never the password.
    pub password_hash: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// The proxy slug clients connect with (`dbname=<slug>`, `<slug>.proxy.<domain>`).
    pub slug: String,
    #[serde(default = "yes")]
    pub semantic_layer: bool,
    /// A dbt project folder or a `manifest.json`.
    pub definitions: PathBuf,
    /// Schema the project's models are built in (the target schema).
    pub schema: Option<String>,
    /// `target.name` in Jinja.
    pub target_name: Option<String>,
    pub warehouse: WarehouseConfig,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum WarehouseConfig {
    /// Engine mode on an embedded DuckDB file.
    Duckdb { path: PathBuf },
    /// Pass-through to a PostgreSQL server.
    Postgres {
        host: String,
        #[serde(default = "pg_port")]
        port: u16,
        database: Option<String>,
        #[serde(default = "connect_timeout")]
        connect_timeout_secs: u64,
    },
}

fn pg_port() -> u16 {
    5432
}

fn connect_timeout() -> u64 {
    5
}

/// Reads the configuration: the file (when given), then `STRATA__*` variables from `vars`.
/// Relative paths in the file are relative to the file's folder.
pub fn load(file: Option<&Path>, vars: impl IntoIterator<Item = (String, String)>) -> Result<Config, String> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            text.parse::<toml::Table>()
                .map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))?
        }
        None => toml::Table::new(),
    };
    let mut overridden = Vec::new();
    let mut vars: Vec<(String, String)> = vars.into_iter().filter(|(k, _)| k.starts_with("STRATA__")).collect();
    vars.sort();
    for (key, raw) in vars {
        let path: Vec<String> = key["STRATA__".len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        set_path(&mut table, &path, parse_value(&raw)).map_err(|e| format!("environment variable {key}: {e}"))?;
        overridden.push(key);
    }
    let origin = match file {
        Some(p) => p.display().to_string(),
        None => "the environment".to_string(),
    };
    let mut config: Config = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| format!("{origin}: {}", e.to_string().trim_end()))?;
    if let Some(dir) = file.and_then(Path::parent) {
        for env in &mut config.environments {
            env.definitions = dir.join(&env.definitions);
            if let WarehouseConfig::Duckdb { path } = &mut env.warehouse {
                *path = dir.join(&*path);
            }
        }
        for p in [&mut config.server.tls_cert, &mut config.server.tls_key]
            .into_iter()
            .flatten()
        {
            *p = dir.join(&*p);
        }
    }
    validate(&config).map_err(|e| format!("{origin}: {e}"))?;
    Ok(config)
}

fn validate(config: &Config) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (i, env) in config.environments.iter().enumerate() {
        let slug = &env.slug;
        if slug.is_empty()
            || !slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(format!(
                "environments[{i}].slug '{slug}': use lowercase letters, digits, '-' and '_' (it is a host name label)"
            ));
        }
        if !seen.insert(slug.clone()) {
            return Err(format!("environments[{i}].slug '{slug}' is used twice"));
        }
    }
    if config.server.tls_cert.is_some() != config.server.tls_key.is_some() {
        return Err("server.tls_cert and server.tls_key go together: set both or neither".into());
    }
    if !matches!(config.server.auth.as_str(), "scram-sha-256" | "password") {
        return Err(format!(
            "server.auth '{}': expected 'scram-sha-256' or 'password'",
            config.server.auth
        ));
    }
    Ok(())
}

/// A variable's value as TOML when it reads as one (`5433`, `true`, `[1, 2]`), else a string.
fn parse_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty key")?;
    if first.is_empty() {
        return Err("empty key segment".into());
    }
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let is_index = rest[0].parse::<usize>().is_ok();
    let entry = table.entry(first.clone()).or_insert_with(|| {
        if is_index {
            toml::Value::Array(Vec::new())
        } else {
            toml::Value::Table(toml::Table::new())
        }
    });
    set_in(entry, rest, value, first)
}

fn set_in(node: &mut toml::Value, path: &[String], value: toml::Value, name: &str) -> Result<(), String> {
    match node {
        toml::Value::Table(t) => set_path(t, path, value),
        toml::Value::Array(items) => {
            let index: usize = path[0]
                .parse()
                .map_err(|_| format!("'{name}' is a list: expected an index, got '{}'", path[0]))?;
            if index > items.len() {
                return Err(format!(
                    "'{name}' has {} items; the next index is {}",
                    items.len(),
                    items.len()
                ));
            }
            if index == items.len() {
                items.push(toml::Value::Table(toml::Table::new()));
            }
            if path.len() == 1 {
                items[index] = value;
                Ok(())
            } else {
                set_in(&mut items[index], &path[1..], value, name)
            }
        }
        _ => Err(format!("'{name}' is a value, not a section")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("strata.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn file_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            r#"
[server]
listen = "127.0.0.1:6000"

[[environments]]
slug = "prod"
definitions = "project"
[environments.warehouse]
kind = "postgres"
host = "db"
"#,
        );
        let config = load(
            Some(&file),
            [
                ("STRATA__SERVER__LISTEN".to_string(), "0.0.0.0:7000".to_string()),
                (
                    "STRATA__ENVIRONMENTS__0__WAREHOUSE__PORT".to_string(),
                    "6432".to_string(),
                ),
                ("STRATA__SERVER__QUERY_TIMEOUT_SECS".to_string(), "30".to_string()),
                ("UNRELATED".to_string(), "x".to_string()),
            ],
        )
        .unwrap();
        assert_eq!(config.server.listen, "0.0.0.0:7000");
        assert_eq!(config.server.query_timeout_secs, 30);
        let env = &config.environments[0];
        assert_eq!(env.definitions, dir.path().join("project"));
        assert!(env.semantic_layer);
        match &env.warehouse {
            WarehouseConfig::Postgres { host, port, .. } => assert_eq!((host.as_str(), *port), ("db", 6432)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn environment_from_variables_only() {
        let vars = [
            ("STRATA__ENVIRONMENTS__0__SLUG", "dev"),
            ("STRATA__ENVIRONMENTS__0__DEFINITIONS", "/p"),
            ("STRATA__ENVIRONMENTS__0__WAREHOUSE__KIND", "duckdb"),
            ("STRATA__ENVIRONMENTS__0__WAREHOUSE__PATH", "/w.duckdb"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let config = load(None, vars).unwrap();
        assert_eq!(config.environments[0].slug, "dev");
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "[server]\nlisten = 5\n");
        let e = load(Some(&file), []).unwrap_err();
        assert!(e.contains("strata.toml") && e.contains("listen"), "{e}");
        let file = write(dir.path(), "[server]\nlisten = \n");
        let e = load(Some(&file), []).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let file = write(dir.path(), "[sever]\n");
        let e = load(Some(&file), []).unwrap_err();
        assert!(e.contains("sever"), "{e}");
        let file = write(
            dir.path(),
            "[[environments]]\nslug = \"Bad Slug\"\ndefinitions = \"p\"\nwarehouse = { kind = \"duckdb\", path = \"w\" }\n",
        );
        let e = load(Some(&file), []).unwrap_err();
        assert!(e.contains("environments[0].slug 'Bad Slug'"), "{e}");
        let e = load(None, [("STRATA__SERVER__LISTEN__X".to_string(), "1".to_string())]);
        assert!(e.is_err());
    }
}
