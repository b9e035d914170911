//! A client connection after startup, for sessions that speak to it message by message:
//! buffered reads of whole messages, buffered writes flushed once per response.

use bytes::BytesMut;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::backend::{self, PgError};
use crate::codec::{self, Message, ProtocolError};
use crate::stream::ClientStream;

/// How long an idle session stays open once shutdown has begun.
pub const SHUTDOWN_LINGER: Duration = Duration::from_millis(500);

pub struct Conn {
    stream: ClientStream,
    rbuf: BytesMut,
    pub out: BytesMut,
    max_message: usize,
}

/// Why no message came.
pub enum Stop {
    /// The client hung up or the socket failed.
    Closed,
    /// The client broke the protocol; the error has been sent.
    Protocol(ProtocolError),
    IdleTimeout,
    Shutdown,
}

impl Stop {
    /// The FATAL error the client is told why, when it is still there to hear it.
    pub fn error(&self) -> Option<PgError> {
        match self {
            Stop::Closed => None,
            Stop::Protocol(e) => Some(PgError::fatal("08P01", format!("protocol violation: {e}"))),
            Stop::IdleTimeout => Some(PgError::fatal(
                "57P05",
                "terminating connection due to idle-session timeout",
            )),
            Stop::Shutdown => Some(PgError::fatal(
                "57P01",
                "terminating connection due to administrator command",
            )),
        }
    }
}

impl Conn {
    pub fn new(stream: ClientStream, buffered: BytesMut, max_message: usize) -> Conn {
        Conn {
            stream,
            rbuf: buffered,
            out: BytesMut::with_capacity(16 * 1024),
            max_message,
        }
    }

    /// The next message. `idle` limits the wait, and `shutdown` ends it, only when the session
    /// is idle (between transactions): the caller says so by passing them.
    pub async fn next(
        &mut self,
        idle: Option<Duration>,
        shutdown: Option<&mut watch::Receiver<bool>>,
    ) -> Result<Message, Stop> {
        loop {
            match codec::decode_message(&mut self.rbuf, self.max_message) {
                Ok(Some(m)) => return Ok(m),
                Ok(None) => {}
                Err(e) => return Err(Stop::Protocol(e)),
            }
            // Write what is pending before waiting for the client.
            self.flush().await.map_err(|_| Stop::Closed)?;
            let read = self.stream.read_buf(&mut self.rbuf);
            let n = match (idle, shutdown.as_deref()) {
                (None, None) => read.await,
                _ => {
                    let mut shutdown = shutdown.as_deref().cloned();
                    let sleep = async {
                        match idle {
                            Some(d) => tokio::time::sleep(d).await,
                            None => std::future::pending().await,
                        }
                    };
                    let stop = async {
                        match shutdown.as_mut() {
                            Some(rx) => {
                                if !*rx.borrow() && rx.changed().await.is_err() {
                                    std::future::pending::<()>().await;
                                }
                                // A moment for the client to read its last response before
                                // the FATAL arrives (some clients report it in its place).
                                tokio::time::sleep(SHUTDOWN_LINGER).await;
                            }
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        n = read => n,
                        _ = sleep => return Err(Stop::IdleTimeout),
                        _ = stop => return Err(Stop::Shutdown),
                    }
                }
            };
            match n {
                Ok(0) | Err(_) => return Err(Stop::Closed),
                Ok(_) => {}
            }
        }
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Writes `bytes` after what is pending, without copying them into the buffer.
    pub async fn write_now(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.flush().await?;
        self.stream.write_all(bytes).await
    }

    pub fn error(&mut self, e: &PgError) {
        backend::error_response(&mut self.out, e);
    }

    /// Sends a FATAL error and closes the connection.
    pub async fn fatal(mut self, e: PgError) {
        backend::error_response(&mut self.out, &e);
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}
