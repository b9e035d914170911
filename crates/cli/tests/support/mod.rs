//! Shared helpers for the proxy's end-to-end tests: a real `strata serve` process on a free
//! port, the demo project generated once per test binary, TLS certificates, and the
//! real-client scenarios under tests/clients.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn strata_bin() -> &'static str {
    env!("CARGO_BIN_EXE_strata")
}

/// The demo project with its DuckDB warehouse, generated once per test binary.
pub fn demo_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Demos of earlier runs (other process ids) are left over: remove those over an hour old.
        for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if old && entry.file_name().to_string_lossy().starts_with("proxy-demo-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tmp.join(format!("proxy-demo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(strata_bin())
            .args(["demo", "--dir", dir.to_str().unwrap()])
            .output()
            .expect("run strata demo");
        assert!(
            out.status.success(),
            "strata demo failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// The server's message (postgres::Error's Display says only "db error").
pub fn message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    }
}

pub fn sqlstate(e: &postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

/// A self-signed certificate for `localhost` and `*.proxy.localtest`, made with openssl.
pub fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args([
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
            "-days",
            "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,DNS:*.proxy.localtest",
        ])
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

pub fn hash_password(password: &str) -> String {
    let out = Command::new(strata_bin())
        .args(["hash-password", password])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A running `strata serve`; stopped (SIGTERM, then kill) when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts `strata serve --config <dir>/strata.toml` with `config` written there;
    /// `listen` is forced to a free port.
    pub fn start(config: &str, dir: tempfile::TempDir) -> Server {
        let file = dir.path().join("strata.toml");
        std::fs::write(&file, config).unwrap();
        let mut child = Command::new(strata_bin())
            .args(["serve", "--config", file.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .env(
                "STRATA_LOG",
                std::env::var("STRATA_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start strata serve");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let out2 = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("Strata SQL proxy listening on ") {
                    let _ = tx.send(addr.to_string());
                }
                out2.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let out3 = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                out3.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("strata serve did not start:\n{}", output.lock().unwrap());
            }
        };
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        Server {
            child,
            port,
            dir,
            output,
        }
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited 0.
    pub fn terminate(&mut self, within: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn conninfo(&self, user: &str, password: &str, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname={dbname} connect_timeout=10",
            self.port
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.terminate(Duration::from_secs(5));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A finished process's stdout and stderr, as one text.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs psql with `conninfo`, `PGPASSWORD` and extra arguments; returns success and its output.
pub fn psql(conninfo: &str, password: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("psql")
        .arg(conninfo)
        .arg("-X")
        .args(args)
        .env("PGPASSWORD", password)
        .output()
        .expect("run psql");
    (out.status.success(), output_text(&out))
}

/// Whether a client program is installed. CI (STRATA_REQUIRE_CLIENTS=1) requires them all.
pub fn have_client(what: &str) -> bool {
    let ok = match what {
        "psql" => Command::new("psql")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "python" => Command::new("python3")
            .args(["-c", "import psycopg"])
            .output()
            .is_ok_and(|o| o.status.success()),
        "java" => {
            Path::new("/usr/share/java/postgresql.jar").exists()
                && Command::new("java")
                    .arg("-version")
                    .output()
                    .is_ok_and(|o| o.status.success())
        }
        "node" => workspace().join("tests/clients/node/node_modules/pg").exists(),
        _ => false,
    };
    if !ok {
        if std::env::var("STRATA_REQUIRE_CLIENTS").is_ok_and(|v| v == "1") {
            panic!("client '{what}' is not installed (run scripts/clients.sh)");
        }
        eprintln!("NOTICE: client '{what}' is not installed (scripts/clients.sh installs it); skipping its scenario");
    }
    ok
}

/// What a scenario connects to and runs.
#[derive(Clone)]
pub struct Scenario<'a> {
    pub port: u16,
    pub user: &'a str,
    pub password: &'a str,
    pub dbname: &'a str,
    pub sslmode: &'a str,
    pub metric_sql: &'a str,
    pub metric_columns: &'a str,
    pub bad_sql: &'a str,
    pub bad_sqlstate: &'a str,
    pub slow_sql: &'a str,
    pub series_sql: &'a str,
}

/// Runs every client's scenario, without TLS and with `sslmode=require`.
pub fn run_all_clients(s: &Scenario<'_>) {
    for sslmode in ["disable", "require"] {
        for client in ["psql", "python", "java", "node"] {
            run_scenario(client, &Scenario { sslmode, ..s.clone() });
        }
    }
}

/// Runs one client's scenario; panics with its output when it fails.
pub fn run_scenario(client: &str, s: &Scenario<'_>) {
    if !have_client(client) {
        return;
    }
    let root = workspace();
    let mut cmd = match client {
        "psql" => {
            let mut c = Command::new("bash");
            c.arg(root.join("tests/clients/psql/scenario.sh"));
            c
        }
        "python" => {
            let mut c = Command::new("python3");
            c.arg(root.join("tests/clients/python/scenario.py"));
            c
        }
        "java" => {
            let mut c = Command::new("java");
            c.args(["-cp", "/usr/share/java/postgresql.jar"]);
            c.arg(root.join("tests/clients/java/Scenario.java"));
            c
        }
        "node" => {
            let mut c = Command::new("node");
            c.arg(root.join("tests/clients/node/scenario.js"));
            c
        }
        other => panic!("unknown client {other}"),
    };
    cmd.current_dir(&root)
        .env("STRATA_HOST", "127.0.0.1")
        .env("STRATA_PORT", s.port.to_string())
        .env("STRATA_USER", s.user)
        .env("STRATA_PASSWORD", s.password)
        .env("STRATA_DBNAME", s.dbname)
        .env("STRATA_SSLMODE", s.sslmode)
        .env("STRATA_METRIC_SQL", s.metric_sql)
        .env("STRATA_METRIC_COLUMNS", s.metric_columns)
        .env("STRATA_BAD_SQL", s.bad_sql)
        .env("STRATA_BAD_SQLSTATE", s.bad_sqlstate)
        .env("STRATA_SLOW_SQL", s.slow_sql)
        .env("STRATA_SERIES_SQL", s.series_sql)
        .env_remove("PGPASSWORD");
    let out = cmd.output().unwrap_or_else(|e| panic!("run {client}: {e}"));
    let text = output_text(&out);
    assert!(
        out.status.success(),
        "{client} scenario ({}) failed:\n{text}",
        s.sslmode
    );
    for step in ["ok connect", "ok select_1", "ok metric", "ok error", "ok fetch"] {
        assert!(
            text.contains(step),
            "{client} scenario did not report '{step}':\n{text}"
        );
    }
    if !s.slow_sql.is_empty() {
        assert!(text.contains("ok cancel"), "{client} scenario did not cancel:\n{text}");
    }
    eprintln!("{client} ({}) scenario passed", s.sslmode);
}
