//! Encoding what the server sends: each function appends one backend message to a buffer,
//! so a whole response is written to the socket with one call.

use bytes::{BufMut, BytesMut};

/// Starts a message; returns the offset of its length field, for [`finish`].
fn start(buf: &mut BytesMut, tag: u8) -> usize {
    buf.put_u8(tag);
    let at = buf.len();
    buf.put_i32(0);
    at
}

fn finish(buf: &mut BytesMut, at: usize) {
    let len = (buf.len() - at) as i32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn put_cstr(buf: &mut BytesMut, s: &str) {
    // A NUL inside would end the string early on the client: drop it.
    if s.as_bytes().contains(&0) {
        buf.put_slice(s.replace('\0', "").as_bytes());
    } else {
        buf.put_slice(s.as_bytes());
    }
    buf.put_u8(0);
}

fn auth(buf: &mut BytesMut, code: i32, data: &[u8]) {
    let at = start(buf, b'R');
    buf.put_i32(code);
    buf.put_slice(data);
    finish(buf, at);
}

pub fn auth_ok(buf: &mut BytesMut) {
    auth(buf, 0, &[]);
}

pub fn auth_cleartext(buf: &mut BytesMut) {
    auth(buf, 3, &[]);
}

/// AuthenticationSASL offering SCRAM-SHA-256.
pub fn auth_sasl(buf: &mut BytesMut) {
    auth(buf, 10, b"SCRAM-SHA-256\0\0");
}

pub fn auth_sasl_continue(buf: &mut BytesMut, data: &[u8]) {
    auth(buf, 11, data);
}

pub fn auth_sasl_final(buf: &mut BytesMut, data: &[u8]) {
    auth(buf, 12, data);
}

pub fn parameter_status(buf: &mut BytesMut, name: &str, value: &str) {
    let at = start(buf, b'S');
    put_cstr(buf, name);
    put_cstr(buf, value);
    finish(buf, at);
}

pub fn backend_key_data(buf: &mut BytesMut, process_id: i32, secret_key: i32) {
    let at = start(buf, b'K');
    buf.put_i32(process_id);
    buf.put_i32(secret_key);
    finish(buf, at);
}

/// `status`: `b'I'` idle, `b'T'` in a transaction, `b'E'` in a failed transaction.
pub fn ready_for_query(buf: &mut BytesMut, status: u8) {
    let at = start(buf, b'Z');
    buf.put_u8(status);
    finish(buf, at);
}

/// One column of a RowDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDescription {
    pub name: String,
    pub type_oid: u32,
    pub type_size: i16,
    /// 0 text, 1 binary.
    pub format: i16,
}

pub fn row_description(buf: &mut BytesMut, fields: &[FieldDescription]) {
    let at = start(buf, b'T');
    buf.put_i16(fields.len() as i16);
    for f in fields {
        put_cstr(buf, &f.name);
        buf.put_u32(0); // table oid
        buf.put_i16(0); // column number
        buf.put_u32(f.type_oid);
        buf.put_i16(f.type_size);
        buf.put_i32(-1); // type modifier
        buf.put_i16(f.format);
    }
    finish(buf, at);
}

/// A DataRow; `put_values` writes the column count and values (see [`DataRowWriter`]).
pub struct DataRowWriter<'a> {
    buf: &'a mut BytesMut,
    at: usize,
}

impl<'a> DataRowWriter<'a> {
    pub fn new(buf: &'a mut BytesMut, columns: usize) -> Self {
        let at = start(buf, b'D');
        buf.put_i16(columns as i16);
        DataRowWriter { buf, at }
    }

    pub fn null(&mut self) {
        self.buf.put_i32(-1);
    }

    pub fn value(&mut self, bytes: &[u8]) {
        self.buf.put_i32(bytes.len() as i32);
        self.buf.put_slice(bytes);
    }

    /// Writes a value through `write`, which appends its bytes to the buffer.
    pub fn value_with(&mut self, write: impl FnOnce(&mut BytesMut)) {
        let len_at = self.buf.len();
        self.buf.put_i32(0);
        write(self.buf);
        let len = (self.buf.len() - len_at - 4) as i32;
        self.buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    }

    pub fn finish(self) {
        finish(self.buf, self.at);
    }
}

pub fn command_complete(buf: &mut BytesMut, tag: &str) {
    let at = start(buf, b'C');
    put_cstr(buf, tag);
    finish(buf, at);
}

pub fn empty_query(buf: &mut BytesMut) {
    let at = start(buf, b'I');
    finish(buf, at);
}

pub fn parse_complete(buf: &mut BytesMut) {
    let at = start(buf, b'1');
    finish(buf, at);
}

pub fn bind_complete(buf: &mut BytesMut) {
    let at = start(buf, b'2');
    finish(buf, at);
}

pub fn close_complete(buf: &mut BytesMut) {
    let at = start(buf, b'3');
    finish(buf, at);
}

pub fn no_data(buf: &mut BytesMut) {
    let at = start(buf, b'n');
    finish(buf, at);
}

pub fn portal_suspended(buf: &mut BytesMut) {
    let at = start(buf, b's');
    finish(buf, at);
}

/// CopyOutResponse: text format for the whole copy and each of `columns` columns.
pub fn copy_out_response(buf: &mut BytesMut, columns: usize) {
    let at = start(buf, b'H');
    buf.put_u8(0);
    buf.put_i16(columns as i16);
    for _ in 0..columns {
        buf.put_i16(0);
    }
    finish(buf, at);
}

pub fn copy_done(buf: &mut BytesMut) {
    let at = start(buf, b'c');
    finish(buf, at);
}

pub fn parameter_description(buf: &mut BytesMut, types: &[u32]) {
    let at = start(buf, b't');
    buf.put_i16(types.len() as i16);
    for t in types {
        buf.put_u32(*t);
    }
    finish(buf, at);
}

/// Severity of an ErrorResponse or NoticeResponse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Fatal,
    Notice,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
            Severity::Notice => "NOTICE",
        }
    }
}

/// An error as the client sees it: SQLSTATE, message, and optional detail and hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgError {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl PgError {
    pub fn error(code: &'static str, message: impl Into<String>) -> PgError {
        PgError {
            severity: Severity::Error,
            code,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub fn fatal(code: &'static str, message: impl Into<String>) -> PgError {
        PgError {
            severity: Severity::Fatal,
            ..PgError::error(code, message)
        }
    }

    pub fn notice(code: &'static str, message: impl Into<String>) -> PgError {
        PgError {
            severity: Severity::Notice,
            ..PgError::error(code, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> PgError {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> PgError {
        self.detail = Some(detail.into());
        self
    }
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.severity.as_str(), self.code, self.message)
    }
}

pub fn error_response(buf: &mut BytesMut, e: &PgError) {
    notice_or_error(buf, b'E', e);
}

pub fn notice_response(buf: &mut BytesMut, e: &PgError) {
    notice_or_error(buf, b'N', e);
}

fn notice_or_error(buf: &mut BytesMut, tag: u8, e: &PgError) {
    let at = start(buf, tag);
    for (field, value) in [
        (b'S', Some(e.severity.as_str())),
        (b'V', Some(e.severity.as_str())),
        (b'C', Some(e.code)),
        (b'M', Some(e.message.as_str())),
        (b'D', e.detail.as_deref()),
        (b'H', e.hint.as_deref()),
    ] {
        if let Some(v) = value {
            buf.put_u8(field);
            put_cstr(buf, v);
        }
    }
    buf.put_u8(0);
    finish(buf, at);
}
