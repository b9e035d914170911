//! The start of a connection: TLS negotiation, the startup packet, CancelRequest, the
//! connection limit, and choosing the environment. Then hands over to a session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use crate::backend::{self, PgError};
use crate::cancel::CancelTarget;
use crate::codec::{self, Startup};
use crate::stream::ClientStream;
use crate::{Backend, Environment, Shared, engine, relay};

/// How long a client may take to send its startup packet (PostgreSQL's authentication_timeout).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What a session starts from.
pub struct Started {
    pub stream: ClientStream,
    /// Bytes the client sent after its startup packet (pipelined messages).
    pub buffered: BytesMut,
    pub params: Vec<(String, String)>,
    pub environment: Arc<Environment>,
    pub peer: SocketAddr,
}

impl Started {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

pub async fn handle(socket: TcpStream, peer: SocketAddr, shared: Arc<Shared>, permit: Option<OwnedSemaphorePermit>) {
    let started = match tokio::time::timeout(STARTUP_TIMEOUT, negotiate(socket, peer, &shared, permit.is_some())).await
    {
        Ok(Some(started)) => started,
        Ok(None) => return,
        Err(_) => {
            tracing::debug!(%peer, "no startup packet in time");
            return;
        }
    };
    match started.environment.backend.clone() {
        Backend::Engine(connector) => engine::run(started, shared, connector).await,
        Backend::Upstream(upstream) => relay::run(started, shared, upstream).await,
    }
    drop(permit);
}

/// Reads the startup packet (after an optional TLS handshake) and picks the environment.
/// `None` when the connection is done (a cancel request, an error already sent, a hang-up).
async fn negotiate(socket: TcpStream, peer: SocketAddr, shared: &Shared, admitted: bool) -> Option<Started> {
    let mut stream = ClientStream::Plain(socket);
    let mut buf = BytesMut::with_capacity(1024);
    let mut sni: Option<String> = None;
    let params = loop {
        let startup = match read_startup(&mut stream, &mut buf).await {
            Ok(Some(s)) => s,
            Ok(None) => return None,
            Err(message) => {
                tracing::debug!(%peer, "bad startup: {message}");
                fatal(&mut stream, PgError::fatal("08P01", message)).await;
                return None;
            }
        };
        match startup {
            Startup::Ssl => {
                if !buf.is_empty() {
                    // Bytes after SSLRequest would be read as if encrypted (CVE-2021-23214).
                    fatal(&mut stream, PgError::fatal("08P01", "unexpected data after SSLRequest")).await;
                    return None;
                }
                let ClientStream::Plain(mut tcp) = stream else {
                    fatal(&mut stream, PgError::fatal("08P01", "SSLRequest inside TLS")).await;
                    return None;
                };
                match &shared.config.tls {
                    None => {
                        tcp.write_all(b"N").await.ok()?;
                        stream = ClientStream::Plain(tcp);
                    }
                    Some(tls) => {
                        tcp.write_all(b"S").await.ok()?;
                        let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
                        match acceptor.accept(tcp).await {
                            Ok(tls_stream) => {
                                sni = tls_stream.get_ref().1.server_name().map(str::to_string);
                                stream = ClientStream::Tls(Box::new(tls_stream));
                            }
                            Err(e) => {
                                tracing::debug!(%peer, "TLS handshake failed: {e}");
                                return None;
                            }
                        }
                    }
                }
            }
            Startup::GssEnc => {
                stream.write_all(b"N").await.ok()?;
            }
            Startup::Cancel { process_id, secret_key } => {
                cancel(shared, (process_id, secret_key)).await;
                return None;
            }
            Startup::Start { params } => break params,
        }
    };
    if !admitted {
        fatal(&mut stream, PgError::fatal("53300", "sorry, too many clients already")).await;
        return None;
    }
    let environment = match choose_environment(shared, sni.as_deref(), &params) {
        Ok(env) => env,
        Err(e) => {
            fatal(&mut stream, e).await;
            return None;
        }
    };
    Some(Started {
        stream,
        buffered: buf,
        params,
        environment,
        peer,
    })
}

async fn read_startup(stream: &mut ClientStream, buf: &mut BytesMut) -> Result<Option<Startup>, String> {
    loop {
        if let Some(s) = codec::decode_startup(buf).map_err(|e| e.0)? {
            return Ok(Some(s));
        }
        match stream.read_buf(buf).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

async fn fatal(stream: &mut ClientStream, e: PgError) {
    let mut out = BytesMut::new();
    backend::error_response(&mut out, &e);
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

/// SNI first label, else `database`, else `-c strata.environment=` in `options`: the first
/// that names an environment wins.
fn choose_environment(
    shared: &Shared,
    sni: Option<&str>,
    params: &[(String, String)],
) -> Result<Arc<Environment>, PgError> {
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let from_sni = sni.and_then(|host| host.split('.').next());
    let from_options = param("options").and_then(environment_option);
    let candidates = [from_sni, param("database"), from_options.as_deref()];
    let Some(env) = candidates
        .iter()
        .flatten()
        .find_map(|slug| shared.environments.get(*slug))
    else {
        let asked = candidates.iter().flatten().next().copied().unwrap_or("");
        return Err(PgError::fatal(
            "3D000",
            format!("no environment with slug \"{asked}\""),
        )
        .with_hint(
            "connect with dbname=<environment slug>, with the host name <slug>.proxy.<domain>, or with options='-c strata.environment=<slug>'",
        ));
    };
    if !env.semantic_layer {
        return Err(PgError::fatal(
            "55000",
            format!("the Semantic Layer is off for environment \"{}\"", env.slug),
        )
        .with_hint("switch it on in the environment's settings"));
    }
    Ok(env.clone())
}

/// `strata.environment` from a libpq `options` string (`-c name=value` or `--name=value`).
fn environment_option(options: &str) -> Option<String> {
    let words = split_options(options);
    let mut iter = words.iter();
    while let Some(w) = iter.next() {
        let setting = if w == "-c" {
            iter.next().map(String::as_str)
        } else if let Some(s) = w.strip_prefix("-c") {
            Some(s)
        } else {
            w.strip_prefix("--")
        };
        if let Some((name, value)) = setting.and_then(|s| s.split_once('='))
            && name.trim() == "strata.environment"
        {
            return Some(value.trim().to_string());
        }
    }
    None
}

/// Splits `options` at unescaped whitespace (libpq escapes spaces with a backslash).
pub fn split_options(options: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// `options` without the `strata.environment` setting, for the upstream (which would refuse
/// an unknown parameter).
pub fn options_without_environment(options: &str) -> String {
    let words = split_options(options);
    let mut kept: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let (setting, used) = if w == "-c" {
            (words.get(i + 1).map(String::as_str), 2)
        } else if let Some(s) = w.strip_prefix("-c") {
            (Some(s), 1)
        } else {
            (w.strip_prefix("--"), 1)
        };
        if setting.is_some_and(|s| s.split('=').next().map(str::trim) == Some("strata.environment")) {
            i += used;
            continue;
        }
        kept.push(w.replace('\\', "\\\\").replace(' ', "\\ "));
        i += 1;
    }
    kept.join(" ")
}

async fn cancel(shared: &Shared, key: (i32, i32)) {
    match shared.cancels.get(key) {
        Some(CancelTarget::Engine(state)) => state.cancel(),
        Some(CancelTarget::Upstream(addr)) => {
            let mut packet = Vec::with_capacity(16);
            packet.extend_from_slice(&16i32.to_be_bytes());
            packet.extend_from_slice(&codec::CANCEL_REQUEST.to_be_bytes());
            packet.extend_from_slice(&key.0.to_be_bytes());
            packet.extend_from_slice(&key.1.to_be_bytes());
            let forwarded = tokio::time::timeout(Duration::from_secs(5), async {
                let mut upstream = TcpStream::connect(addr).await?;
                upstream.write_all(&packet).await?;
                // The server closes the connection when done; wait for that.
                let mut sink = [0u8; 16];
                let _ = upstream.read(&mut sink).await;
                Ok::<_, std::io::Error>(())
            })
            .await;
            if !matches!(forwarded, Ok(Ok(()))) {
                tracing::warn!("could not forward a cancel request to {addr}");
            }
        }
        // Unknown keys are ignored silently, as PostgreSQL does.
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_from_options() {
        assert_eq!(environment_option("-c strata.environment=demo"), Some("demo".into()));
        assert_eq!(
            environment_option("-cstrata.environment=demo -c x=1"),
            Some("demo".into())
        );
        assert_eq!(environment_option("--strata.environment=prod"), Some("prod".into()));
        assert_eq!(environment_option("-c search_path=a"), None);
        assert_eq!(
            options_without_environment("-c strata.environment=demo -c search_path=a\\ b"),
            "-c search_path=a\\ b"
        );
    }
}
