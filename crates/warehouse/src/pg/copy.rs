//! Rows in the text format of `COPY ... FROM STDIN`: tab-separated, `\N` for null, and
//! backslash, tab, newline and carriage return escaped with a backslash.

use crate::{Value, format_date, format_float, format_timestamp};

/// Appends one row, newline included, to `out`.
pub(super) fn encode_row(row: &[Value], out: &mut Vec<u8>) {
    for (i, value) in row.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match value {
            Value::Null => out.extend_from_slice(b"\\N"),
            Value::Bool(b) => out.push(if *b { b't' } else { b'f' }),
            Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Float(f) => out.extend_from_slice(format_float(*f).as_bytes()),
            Value::Numeric(s) | Value::Text(s) => escape(s, out),
            Value::Date(d) => out.extend_from_slice(format_date(*d).as_bytes()),
            Value::Timestamp(t) => out.extend_from_slice(format_timestamp(*t).as_bytes()),
        }
    }
    out.push(b'\n');
}

fn escape(s: &str, out: &mut Vec<u8>) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_copy_text_rows() {
        let mut out = Vec::new();
        encode_row(
            &[
                Value::Null,
                Value::Bool(true),
                Value::Int(-3),
                Value::Float(0.5),
                Value::Numeric("12.50".into()),
                Value::Text("a\\b\tc\nd\re \\N".into()),
                Value::Date(0),
                Value::Timestamp(1_500_000),
            ],
            &mut out,
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "\\N\tt\t-3\t0.5\t12.50\ta\\\\b\\tc\\nd\\re \\\\N\t1970-01-01\t1970-01-01 00:00:01.5\n"
        );
    }
}
