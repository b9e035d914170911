//! Decoding what a PostgreSQL client sends: the startup packet and the typed messages after it.
//!
//! Pure and allocation-light: [`decode_startup`] and [`decode_message`] look at a buffer and
//! either return a complete message (consuming its bytes), `Ok(None)` when more bytes are
//! needed, or a [`ProtocolError`] that names what is wrong. Lengths are checked before
//! anything is buffered, so a hostile length prefix costs nothing. The fuzz target and the
//! garbage tests drive these two functions directly.

use bytes::{Buf, Bytes, BytesMut};
use std::fmt;

/// Protocol 3.0, the only one spoken.
pub const PROTOCOL_3: i32 = 196_608;
pub const SSL_REQUEST: i32 = 80_877_103;
pub const GSSENC_REQUEST: i32 = 80_877_104;
pub const CANCEL_REQUEST: i32 = 80_877_102;

/// PostgreSQL's own limit for a startup packet.
pub const MAX_STARTUP_LEN: usize = 10_000;

/// Something the client sent that does not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

fn err<T>(message: impl Into<String>) -> Result<T, ProtocolError> {
    Err(ProtocolError(message.into()))
}

/// The first packet of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    Ssl,
    GssEnc,
    Cancel {
        process_id: i32,
        secret_key: i32,
    },
    /// Protocol 3.0 startup with its parameters (`user`, `database`, `options`, ...), in order.
    Start {
        params: Vec<(String, String)>,
    },
}

/// Decodes the startup packet (no type byte: length, then a code).
pub fn decode_startup(buf: &mut BytesMut) -> Result<Option<Startup>, ProtocolError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < 8 || len as usize > MAX_STARTUP_LEN {
        return err(format!(
            "invalid startup packet length {len} (expected 8 to {MAX_STARTUP_LEN})"
        ));
    }
    let len = len as usize;
    if buf.len() < len {
        return Ok(None);
    }
    let mut packet = buf.split_to(len).freeze();
    packet.advance(4);
    let code = packet.get_i32();
    match code {
        SSL_REQUEST if packet.is_empty() => Ok(Some(Startup::Ssl)),
        GSSENC_REQUEST if packet.is_empty() => Ok(Some(Startup::GssEnc)),
        CANCEL_REQUEST if packet.len() == 8 => Ok(Some(Startup::Cancel {
            process_id: packet.get_i32(),
            secret_key: packet.get_i32(),
        })),
        SSL_REQUEST | GSSENC_REQUEST | CANCEL_REQUEST => err(format!("malformed request code {code}: bad length")),
        PROTOCOL_3 => {
            let mut params = Vec::new();
            loop {
                let key = cstr(&mut packet, "startup parameter name")?;
                if key.is_empty() {
                    break;
                }
                let value = cstr(&mut packet, "startup parameter value")?;
                params.push((key, value));
            }
            if !packet.is_empty() {
                return err("startup packet has bytes after its terminator");
            }
            Ok(Some(Startup::Start { params }))
        }
        _ => err(format!(
            "unsupported frontend protocol {}.{}: this server supports 3.0",
            code >> 16,
            code & 0xffff
        )),
    }
}

/// A message from the client after startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Query(String),
    Parse {
        name: String,
        sql: String,
        param_types: Vec<u32>,
    },
    Bind {
        portal: String,
        statement: String,
        param_formats: Vec<i16>,
        params: Vec<Option<Bytes>>,
        result_formats: Vec<i16>,
    },
    /// `kind` is `b'S'` (statement) or `b'P'` (portal).
    Describe {
        kind: u8,
        name: String,
    },
    Execute {
        portal: String,
        max_rows: i32,
    },
    Close {
        kind: u8,
        name: String,
    },
    Sync,
    Flush,
    Terminate,
    /// PasswordMessage, SASLInitialResponse or SASLResponse: which one depends on the state.
    Password(Bytes),
    CopyData(Bytes),
    CopyDone,
    CopyFail(String),
    FunctionCall,
}

/// A frame: its type byte and body, without interpreting the body. The relay uses frames.
pub struct Frame {
    pub tag: u8,
    /// Type byte, length and body, as received.
    pub raw: Bytes,
}

/// Length of the next frame in `buf` (type byte included) if it is complete, `Ok(None)` if
/// more bytes are needed. `max_len` bounds the body the peer may announce.
pub fn frame_len(buf: &[u8], max_len: usize) -> Result<Option<usize>, ProtocolError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if len < 4 {
        return err(format!(
            "invalid message length {len} for message type '{}'",
            printable(buf[0])
        ));
    }
    let len = len as usize;
    if len - 4 > max_len {
        return err(format!(
            "message type '{}' of {len} bytes exceeds the limit of {max_len} bytes",
            printable(buf[0])
        ));
    }
    Ok(if buf.len() > len { Some(len + 1) } else { None })
}

/// Splits the next complete frame off `buf`.
pub fn decode_frame(buf: &mut BytesMut, max_len: usize) -> Result<Option<Frame>, ProtocolError> {
    match frame_len(buf, max_len)? {
        None => Ok(None),
        Some(n) => {
            let raw = buf.split_to(n).freeze();
            Ok(Some(Frame { tag: raw[0], raw }))
        }
    }
}

/// Decodes the next complete message in `buf`.
pub fn decode_message(buf: &mut BytesMut, max_len: usize) -> Result<Option<Message>, ProtocolError> {
    let Some(frame) = decode_frame(buf, max_len)? else {
        return Ok(None);
    };
    parse_frame(&frame).map(Some)
}

/// Interprets a frame's body.
pub fn parse_frame(frame: &Frame) -> Result<Message, ProtocolError> {
    let mut body = frame.raw.slice(5..);
    let tag = frame.tag;
    let what = message_name(tag);
    let msg = match tag {
        b'Q' => Message::Query(cstr(&mut body, "query string")?),
        b'P' => {
            let name = cstr(&mut body, "Parse statement name")?;
            let sql = cstr(&mut body, "Parse query string")?;
            let n = count(&mut body, what, "parameter type count")?;
            let mut param_types = Vec::with_capacity(n.min(body.len() / 4));
            for _ in 0..n {
                need(&body, 4, what, "parameter type")?;
                param_types.push(body.get_u32());
            }
            Message::Parse { name, sql, param_types }
        }
        b'B' => {
            let portal = cstr(&mut body, "Bind portal name")?;
            let statement = cstr(&mut body, "Bind statement name")?;
            let n = count(&mut body, what, "parameter format count")?;
            let mut param_formats = Vec::with_capacity(n.min(body.len() / 2));
            for _ in 0..n {
                need(&body, 2, what, "parameter format")?;
                param_formats.push(format_code(body.get_i16(), what)?);
            }
            let n = count(&mut body, what, "parameter count")?;
            let mut params = Vec::with_capacity(n.min(body.len() / 4));
            for i in 0..n {
                need(&body, 4, what, "parameter length")?;
                let len = body.get_i32();
                if len == -1 {
                    params.push(None);
                } else if len < 0 || len as usize > body.len() {
                    return err(format!("Bind parameter ${} has invalid length {len}", i + 1));
                } else {
                    params.push(Some(body.split_to(len as usize)));
                }
            }
            if param_formats.len() > 1 && param_formats.len() != params.len() {
                return err(format!(
                    "Bind has {} parameter formats for {} parameters",
                    param_formats.len(),
                    params.len()
                ));
            }
            let n = count(&mut body, what, "result format count")?;
            let mut result_formats = Vec::with_capacity(n.min(body.len() / 2));
            for _ in 0..n {
                need(&body, 2, what, "result format")?;
                result_formats.push(format_code(body.get_i16(), what)?);
            }
            Message::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            }
        }
        b'D' | b'C' => {
            need(&body, 1, what, "kind")?;
            let kind = body.get_u8();
            if kind != b'S' && kind != b'P' {
                return err(format!("{what} kind '{}' is neither 'S' nor 'P'", printable(kind)));
            }
            let name = cstr(&mut body, "name")?;
            if tag == b'D' {
                Message::Describe { kind, name }
            } else {
                Message::Close { kind, name }
            }
        }
        b'E' => {
            let portal = cstr(&mut body, "Execute portal name")?;
            need(&body, 4, what, "row limit")?;
            Message::Execute {
                portal,
                max_rows: body.get_i32(),
            }
        }
        b'S' => Message::Sync,
        b'H' => Message::Flush,
        b'X' => Message::Terminate,
        b'p' => return Ok(Message::Password(body)),
        b'd' => return Ok(Message::CopyData(body)),
        b'c' => Message::CopyDone,
        b'f' => Message::CopyFail(cstr(&mut body, "CopyFail message")?),
        b'F' => return Ok(Message::FunctionCall),
        _ => return err(format!("unknown message type '{}'", printable(tag))),
    };
    if !body.is_empty() {
        return err(format!("{what} message has {} unexpected trailing bytes", body.len()));
    }
    Ok(msg)
}

fn message_name(tag: u8) -> &'static str {
    match tag {
        b'Q' => "Query",
        b'P' => "Parse",
        b'B' => "Bind",
        b'D' => "Describe",
        b'C' => "Close",
        b'E' => "Execute",
        _ => "message",
    }
}

fn printable(b: u8) -> String {
    if b.is_ascii_graphic() {
        (b as char).to_string()
    } else {
        format!("\\x{b:02x}")
    }
}

fn need(body: &Bytes, n: usize, what: &str, field: &str) -> Result<(), ProtocolError> {
    if body.len() < n {
        return err(format!("{what} message is truncated (in its {field})"));
    }
    Ok(())
}

fn count(body: &mut Bytes, what: &str, field: &str) -> Result<usize, ProtocolError> {
    need(body, 2, what, field)?;
    let n = body.get_i16();
    if n < 0 {
        return err(format!("{what} has a negative {field} ({n})"));
    }
    Ok(n as usize)
}

fn format_code(code: i16, what: &str) -> Result<i16, ProtocolError> {
    if code != 0 && code != 1 {
        return err(format!(
            "{what} has format code {code} (expected 0 for text or 1 for binary)"
        ));
    }
    Ok(code)
}

/// A NUL-terminated UTF-8 string.
fn cstr(body: &mut Bytes, what: &str) -> Result<String, ProtocolError> {
    let Some(end) = body.iter().position(|&b| b == 0) else {
        return err(format!("{what} is not NUL-terminated"));
    };
    let s = body.split_to(end);
    body.advance(1);
    match std::str::from_utf8(&s) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => err(format!("{what} is not valid UTF-8")),
    }
}

/// A parameter value's text, for a parameter in text format.
pub fn utf8(bytes: &[u8], what: &str) -> Result<String, ProtocolError> {
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|_| ProtocolError(format!("{what} is not valid UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn frame(tag: u8, body: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_u8(tag);
        b.put_i32(body.len() as i32 + 4);
        b.put_slice(body);
        b
    }

    #[test]
    fn startup_parameters_in_order() {
        let mut b = BytesMut::new();
        let body = b"user\0alice\0database\0demo\0\0";
        b.put_i32(8 + body.len() as i32);
        b.put_i32(PROTOCOL_3);
        b.put_slice(body);
        let s = decode_startup(&mut b).unwrap().unwrap();
        assert_eq!(
            s,
            Startup::Start {
                params: vec![("user".into(), "alice".into()), ("database".into(), "demo".into())]
            }
        );
        assert!(b.is_empty());
    }

    #[test]
    fn startup_waits_for_the_whole_packet_and_refuses_huge_lengths() {
        let mut b = BytesMut::from(&[0u8, 0, 0, 16, 0, 3][..]);
        assert_eq!(decode_startup(&mut b).unwrap(), None);
        let mut huge = BytesMut::from(&[0x40u8, 0, 0, 0, 0, 3, 0, 0][..]);
        let e = decode_startup(&mut huge).unwrap_err();
        assert!(e.0.contains("invalid startup packet length 1073741824"), "{e}");
    }

    #[test]
    fn query_and_truncated_messages() {
        let mut b = frame(b'Q', b"select 1\0");
        assert_eq!(
            decode_message(&mut b, 1 << 20).unwrap(),
            Some(Message::Query("select 1".into()))
        );
        let mut b = frame(b'Q', b"select 1");
        assert!(
            decode_message(&mut b, 1 << 20)
                .unwrap_err()
                .0
                .contains("not NUL-terminated")
        );
        let mut b = frame(b'E', b"\0\0\0");
        assert!(decode_message(&mut b, 1 << 20).unwrap_err().0.contains("truncated"));
    }

    #[test]
    fn oversized_length_is_refused_before_buffering() {
        let mut b = BytesMut::from(&[b'Q', 0x40, 0, 0, 0][..]);
        let e = decode_message(&mut b, 64 << 20).unwrap_err();
        assert!(e.0.contains("exceeds the limit"), "{e}");
    }

    #[test]
    fn bind_with_parameters() {
        let mut body = Vec::new();
        body.extend_from_slice(b"p\0s\0");
        body.extend_from_slice(&1i16.to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        body.extend_from_slice(&2i16.to_be_bytes());
        body.extend_from_slice(&2i32.to_be_bytes());
        body.extend_from_slice(b"41");
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        let mut b = frame(b'B', &body);
        let Some(Message::Bind { params, .. }) = decode_message(&mut b, 1 << 20).unwrap() else {
            panic!("not a Bind")
        };
        assert_eq!(params, vec![Some(Bytes::from_static(b"41")), None]);
    }

    #[test]
    fn bind_parameter_longer_than_the_message() {
        let mut body = Vec::new();
        body.extend_from_slice(b"\0\0");
        body.extend_from_slice(&0i16.to_be_bytes());
        body.extend_from_slice(&1i16.to_be_bytes());
        body.extend_from_slice(&1000i32.to_be_bytes());
        let mut b = frame(b'B', &body);
        let e = decode_message(&mut b, 1 << 20).unwrap_err();
        assert!(e.0.contains("Bind parameter $1 has invalid length 1000"), "{e}");
    }

    #[test]
    fn unknown_type_is_named() {
        let mut b = frame(0x01, b"");
        assert_eq!(
            decode_message(&mut b, 1 << 20).unwrap_err().0,
            "unknown message type '\\x01'"
        );
    }
}
