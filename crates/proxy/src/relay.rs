//! Pass-through mode: every byte goes to an upstream PostgreSQL server and back, except
//! Query and Parse messages holding dbt-SQL, which are compiled (postgres dialect) first.
//!
//! Two pumps run per connection. The client pump frames what the client sends, rewrites
//! dbt-SQL, and forwards everything else in the same write. The upstream pump frames what
//! the upstream sends only to see its headers: BackendKeyData (so CancelRequests can be routed
//! to the right upstream) and ReadyForQuery (to count completed requests).
//!
//! A compile error must reach the client in protocol order, after the responses to whatever
//! the client sent before it. So instead of writing the error directly, the client pump sends
//! the upstream a Sync, whose ReadyForQuery marks the spot, and tells the upstream pump to put
//! the error there: in place of that ReadyForQuery (extended protocol: the client's own Sync
//! will bring the real one; meanwhile the client's messages are skipped, as PostgreSQL does
//! after an error) or just before it (simple query). Requests are counted by the
//! ReadyForQuery each produces (Query, Sync, FunctionCall), so the spot is exact even when
//! the client pipelines.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::backend::{self, PgError};
use crate::cancel::CancelTarget;
use crate::codec::{self, PROTOCOL_3};
use crate::session::Stop;
use crate::startup::{Started, options_without_environment};
use crate::stream::{ReadHalf, WriteHalf};
use crate::{Environment, Shared, Upstream, errors, sqltext};

/// What the client pump asks the upstream pump to write to the client.
enum Note {
    /// Write `error` at the ReadyForQuery numbered `ordinal`: in its place when `replace`,
    /// else just before it.
    ErrorAt {
        ordinal: u64,
        error: PgError,
        replace: bool,
    },
    /// Write `error` now and end the connection.
    Fatal(PgError),
}

/// Counters both pumps see.
#[derive(Default)]
struct Progress {
    /// Requests sent upstream that end with a ReadyForQuery.
    requested: AtomicU64,
    /// ReadyForQuery messages received.
    completed: AtomicU64,
}

impl Progress {
    fn idle(&self) -> bool {
        self.requested.load(Ordering::SeqCst) == self.completed.load(Ordering::SeqCst)
    }
}

pub async fn run(started: Started, shared: Arc<Shared>, upstream: Upstream) {
    let Started {
        mut stream,
        buffered,
        params,
        environment,
        peer,
    } = started;
    let addr = format!("{}:{}", upstream.host, upstream.port);
    let connected = tokio::time::timeout(upstream.connect_timeout, TcpStream::connect(&addr)).await;
    let upstream_socket = match connected {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return refuse(
                &mut stream,
                format!("could not connect to the upstream warehouse at {addr}: {e}"),
            )
            .await;
        }
        Err(_) => {
            return refuse(
                &mut stream,
                format!(
                    "could not connect to the upstream warehouse at {addr}: timed out after {:?}",
                    upstream.connect_timeout
                ),
            )
            .await;
        }
    };
    let _ = upstream_socket.set_nodelay(true);
    let upstream_addr = match upstream_socket.peer_addr() {
        Ok(a) => a,
        Err(_) => return refuse(&mut stream, format!("lost the upstream warehouse at {addr}")).await,
    };
    tracing::debug!(%peer, %upstream_addr, env = %environment.slug, "relaying");
    let startup = startup_packet(&params, &environment, &upstream);
    let (up_read, mut up_write) = upstream_socket.into_split();
    if up_write.write_all(&startup).await.is_err() {
        return refuse(&mut stream, format!("lost the upstream warehouse at {addr}")).await;
    }
    let (client_read, client_write) = stream.split();
    // The startup packet is the first request: authentication ends with a ReadyForQuery.
    let progress = Arc::new(Progress::default());
    progress.requested.store(1, Ordering::SeqCst);
    let (notes_tx, notes_rx) = mpsc::unbounded_channel();
    let mut cancel_key = None;
    {
        let client_pump = client_pump(
            client_read,
            buffered,
            up_write,
            ClientPumpState {
                shared: shared.clone(),
                environment,
                progress: progress.clone(),
                notes: notes_tx,
            },
        );
        let upstream_pump = upstream_pump(up_read, client_write, notes_rx, progress, |key| {
            shared.cancels.register(key, CancelTarget::Upstream(upstream_addr));
            cancel_key = Some(key);
        });
        tokio::pin!(client_pump);
        tokio::pin!(upstream_pump);
        tokio::select! {
            _ = &mut upstream_pump => {}
            _ = &mut client_pump => {
                // The client is done (Terminate or hang-up): let the upstream finish briefly.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut upstream_pump).await;
            }
        }
    }
    if let Some(key) = cancel_key {
        shared.cancels.remove(key);
    }
}

async fn refuse(stream: &mut crate::stream::ClientStream, message: String) {
    let mut out = BytesMut::new();
    backend::error_response(&mut out, &PgError::fatal("08001", message));
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

/// The client's startup packet for the upstream: `database` set to the environment's
/// upstream database (or dropped when it named the environment), and Strata's own option
/// removed.
fn startup_packet(params: &[(String, String)], environment: &Environment, upstream: &Upstream) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&PROTOCOL_3.to_be_bytes());
    let mut put = |k: &str, v: &str| {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    };
    let mut has_database = false;
    for (k, v) in params {
        match k.as_str() {
            "database" => {
                if let Some(db) = &upstream.database {
                    put(k, db);
                    has_database = true;
                } else if v != &environment.slug {
                    put(k, v);
                    has_database = true;
                }
            }
            "options" => {
                let kept = options_without_environment(v);
                if !kept.is_empty() {
                    put(k, &kept);
                }
            }
            _ => put(k, v),
        }
    }
    if !has_database && let Some(db) = &upstream.database {
        put("database", db);
    }
    body.push(0);
    let mut packet = Vec::with_capacity(body.len() + 4);
    packet.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    packet.extend_from_slice(&body);
    packet
}

struct ClientPumpState {
    shared: Arc<Shared>,
    environment: Arc<Environment>,
    progress: Arc<Progress>,
    notes: mpsc::UnboundedSender<Note>,
}

/// Client to upstream. Returns when the client is done or broke the protocol.
async fn client_pump(
    mut client: ReadHalf,
    mut buf: BytesMut,
    mut upstream: impl AsyncWrite + Unpin,
    state: ClientPumpState,
) {
    let max = state.shared.config.max_message_bytes;
    let idle_timeout = state.shared.config.idle_timeout;
    let mut shutdown = state.shared.shutdown.clone();
    let mut skip_until_sync = false;
    let mut out = BytesMut::new();
    buf.reserve(16 * 1024);
    loop {
        // Frame what has arrived; copy unchanged runs of frames through in one piece.
        let mut at = 0;
        let mut pass_from = 0;
        loop {
            let len = match codec::frame_len(&buf[at..], max) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(e) => return end_session(&state, &mut upstream, Stop::Protocol(e)).await,
            };
            let tag = buf[at];
            let frame = at..at + len;
            at += len;
            if skip_until_sync {
                out.put_slice(&buf[pass_from..frame.start]);
                pass_from = frame.end;
                if tag == b'S' {
                    skip_until_sync = false;
                    out.put_slice(&buf[frame.clone()]);
                    state.progress.requested.fetch_add(1, Ordering::SeqCst);
                }
                continue;
            }
            match tag {
                b'Q' | b'P' if sqltext::is_dbt_sql(body_text(&buf[frame.clone()])) => {
                    out.put_slice(&buf[pass_from..frame.start]);
                    pass_from = frame.end;
                    match rewrite(&buf[frame.clone()], &state.environment) {
                        Ok(rewritten) => {
                            out.put_slice(&rewritten);
                            if tag == b'Q' {
                                state.progress.requested.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Err(error) => {
                            // A Sync in place of the message marks where the error goes.
                            out.put_slice(&sync());
                            let ordinal = state.progress.requested.fetch_add(1, Ordering::SeqCst) + 1;
                            let replace = tag == b'P';
                            let _ = state.notes.send(Note::ErrorAt {
                                ordinal,
                                error,
                                replace,
                            });
                            skip_until_sync = replace;
                        }
                    }
                }
                b'Q' | b'S' | b'F' => {
                    state.progress.requested.fetch_add(1, Ordering::SeqCst);
                }
                b'X' => {
                    out.put_slice(&buf[pass_from..frame.end]);
                    let _ = upstream.write_all(&out).await;
                    return;
                }
                _ => {}
            }
        }
        out.put_slice(&buf[pass_from..at]);
        buf.advance(at);
        if !out.is_empty() {
            if upstream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        // Wait for more. When idle, the idle timeout applies; after shutdown, an idle session
        // is closed once it has been idle for a moment.
        let idle_since = tokio::time::Instant::now();
        let n = loop {
            let idle = state.progress.idle() && !skip_until_sync;
            let shutting_down = *shutdown.borrow();
            let idle_deadline = idle_timeout.filter(|_| idle).map(|d| idle_since + d);
            tokio::select! {
                n = client.read_buf(&mut buf) => break n,
                _ = async {
                    match idle_deadline {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => return end_session(&state, &mut upstream, Stop::IdleTimeout).await,
                changed = shutdown.changed(), if !shutting_down => {
                    if changed.is_err() {
                        // The server is gone; nothing more to wait for.
                        std::future::pending::<()>().await;
                    }
                }
                _ = tokio::time::sleep(crate::session::SHUTDOWN_LINGER), if shutting_down => {
                    if state.progress.idle() && !skip_until_sync {
                        return end_session(&state, &mut upstream, Stop::Shutdown).await;
                    }
                }
            }
        };
        match n {
            Ok(0) | Err(_) => {
                let _ = upstream.write_all(&terminate()).await;
                return;
            }
            Ok(_) => {}
        }
    }
}

/// Tells the client why the session ends (through the upstream pump, in order) and ends the
/// upstream session.
async fn end_session(state: &ClientPumpState, upstream: &mut (impl AsyncWrite + Unpin), stop: Stop) {
    if let Some(e) = stop.error() {
        let _ = state.notes.send(Note::Fatal(e));
    }
    let _ = upstream.write_all(&terminate()).await;
}

fn terminate() -> [u8; 5] {
    [b'X', 0, 0, 0, 4]
}

fn sync() -> [u8; 5] {
    [b'S', 0, 0, 0, 4]
}

/// The SQL text in a Query or Parse frame (lossy: only used to look for Jinja).
fn body_text(frame: &[u8]) -> &str {
    let body = &frame[5..];
    let body = if frame[0] == b'P' {
        // Skip the statement name.
        match body.iter().position(|&b| b == 0) {
            Some(i) => &body[i + 1..],
            None => body,
        }
    } else {
        body
    };
    let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
    std::str::from_utf8(&body[..end]).unwrap_or("")
}

/// Compiles the dbt-SQL in a Query or Parse frame and returns the rewritten frame.
fn rewrite(frame: &[u8], environment: &Environment) -> Result<Vec<u8>, PgError> {
    let parsed = codec::parse_frame(&codec::Frame {
        tag: frame[0],
        raw: bytes::Bytes::copy_from_slice(frame),
    })
    .map_err(|e| PgError::error("08P01", e.0))?;
    let compile = |sql: &str| {
        environment
            .compiler()
            .compile(sql)
            .map(|c| c.sql)
            .map_err(|e| errors::compile_error(&e))
    };
    let mut out = BytesMut::new();
    match parsed {
        codec::Message::Query(sql) => {
            let sql = compile(&sql)?;
            out.put_u8(b'Q');
            out.put_i32((4 + sql.len() + 1) as i32);
            out.put_slice(sql.as_bytes());
            out.put_u8(0);
        }
        codec::Message::Parse { name, sql, param_types } => {
            let sql = compile(&sql)?;
            out.put_u8(b'P');
            out.put_i32((4 + name.len() + 1 + sql.len() + 1 + 2 + 4 * param_types.len()) as i32);
            out.put_slice(name.as_bytes());
            out.put_u8(0);
            out.put_slice(sql.as_bytes());
            out.put_u8(0);
            out.put_i16(param_types.len() as i16);
            for t in param_types {
                out.put_u32(t);
            }
        }
        _ => return Err(PgError::error("XX000", "only Query and Parse are rewritten")),
    }
    Ok(out.to_vec())
}

/// Upstream to client. Returns when the upstream closes or a fatal note ends the session.
async fn upstream_pump(
    mut upstream: impl AsyncRead + Unpin,
    mut client: WriteHalf,
    mut notes: mpsc::UnboundedReceiver<Note>,
    progress: Arc<Progress>,
    mut on_key: impl FnMut((i32, i32)),
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut pending: VecDeque<(u64, PgError, bool)> = VecDeque::new();
    let mut out = BytesMut::new();
    let mut notes_open = true;
    loop {
        let read = tokio::select! {
            biased;
            note = notes.recv(), if notes_open => {
                match note {
                    Some(Note::Fatal(e)) => {
                        backend::error_response(&mut out, &e);
                        let _ = client.write_all(&out).await;
                        let _ = client.shutdown().await;
                        return;
                    }
                    Some(Note::ErrorAt { ordinal, error, replace }) => pending.push_back((ordinal, error, replace)),
                    None => notes_open = false,
                }
                continue;
            }
            n = upstream.read_buf(&mut buf) => n,
        };
        match read {
            Ok(0) | Err(_) => {
                let _ = client.write_all(&buf).await;
                let _ = client.shutdown().await;
                return;
            }
            Ok(_) => {}
        }
        let mut at = 0;
        let mut pass_from = 0;
        while at + 5 <= buf.len() {
            let len = u32::from_be_bytes([buf[at + 1], buf[at + 2], buf[at + 3], buf[at + 4]]) as usize;
            if at + 1 + len > buf.len() {
                break;
            }
            let tag = buf[at];
            let frame = at..at + 1 + len;
            at = frame.end;
            match tag {
                b'K' if len == 12 => {
                    let b = &buf[frame.start + 5..frame.end];
                    on_key((
                        i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                        i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                    ));
                }
                b'Z' => {
                    let ordinal = progress.completed.fetch_add(1, Ordering::SeqCst) + 1;
                    while let Ok(note) = notes.try_recv() {
                        match note {
                            Note::ErrorAt {
                                ordinal,
                                error,
                                replace,
                            } => pending.push_back((ordinal, error, replace)),
                            Note::Fatal(e) => {
                                out.put_slice(&buf[pass_from..frame.start]);
                                backend::error_response(&mut out, &e);
                                let _ = client.write_all(&out).await;
                                let _ = client.shutdown().await;
                                return;
                            }
                        }
                    }
                    if pending.front().is_some_and(|(n, _, _)| *n == ordinal) {
                        let (_, error, replace) =
                            pending.pop_front().unwrap_or((0, PgError::error("XX000", ""), false));
                        out.put_slice(&buf[pass_from..frame.start]);
                        backend::error_response(&mut out, &error);
                        pass_from = if replace { frame.end } else { frame.start };
                    }
                }
                _ => {}
            }
        }
        let written = if out.is_empty() {
            // The common case: nothing to add, so write straight from the read buffer.
            client.write_all(&buf[..at]).await
        } else {
            out.put_slice(&buf[pass_from..at]);
            client.write_all(&out).await
        };
        buf.advance(at);
        if written.is_err() {
            return;
        }
        out.clear();
    }
}
