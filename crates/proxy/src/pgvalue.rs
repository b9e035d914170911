//! Values on the wire: warehouse values as PostgreSQL text or binary, and bound parameters
//! (text or binary, by type OID) as SQL literals for the warehouse.

use bytes::{BufMut, BytesMut};
use strata_warehouse::{ColumnType, Value, format_date, format_float, format_timestamp};

use crate::backend::DataRowWriter;
use crate::sqltext::quote_literal;

pub const BOOL: u32 = 16;
pub const BYTEA: u32 = 17;
pub const INT8: u32 = 20;
pub const INT2: u32 = 21;
pub const INT4: u32 = 23;
pub const TEXT: u32 = 25;
pub const FLOAT4: u32 = 700;
pub const FLOAT8: u32 = 701;
pub const VARCHAR: u32 = 1043;
pub const BPCHAR: u32 = 1042;
pub const NAME: u32 = 19;
pub const DATE: u32 = 1082;
pub const TIMESTAMP: u32 = 1114;
pub const TIMESTAMPTZ: u32 = 1184;
pub const NUMERIC: u32 = 1700;
pub const UUID: u32 = 2950;
pub const OID: u32 = 26;

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's binary epoch.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS as i64 * 86_400_000_000;

/// The OID of a type named in a cast (`$1::integer`), for ParameterDescription.
pub fn oid_of_type_name(name: &str) -> Option<u32> {
    Some(match name {
        "int" | "integer" | "int4" => INT4,
        "bigint" | "int8" => INT8,
        "smallint" | "int2" => INT2,
        "text" | "string" => TEXT,
        "varchar" | "character" | "char" | "bpchar" => VARCHAR,
        "double" | "float8" | "float" => FLOAT8,
        "real" | "float4" => FLOAT4,
        "numeric" | "decimal" => NUMERIC,
        "bool" | "boolean" => BOOL,
        "date" => DATE,
        "timestamp" => TIMESTAMP,
        "timestamptz" => TIMESTAMPTZ,
        "uuid" => UUID,
        "bytea" | "blob" => BYTEA,
        _ => return None,
    })
}

/// The PostgreSQL type OID and size a column is described with.
pub fn type_of(ty: &ColumnType) -> (u32, i16) {
    match ty {
        ColumnType::Boolean => (BOOL, 1),
        ColumnType::Integer => (INT8, 8),
        ColumnType::Int32 => (INT4, 4),
        ColumnType::Float => (FLOAT8, 8),
        ColumnType::Numeric => (NUMERIC, -1),
        ColumnType::Text | ColumnType::Other(_) => (TEXT, -1),
        ColumnType::Date => (DATE, 4),
        ColumnType::Timestamp => (TIMESTAMP, 8),
    }
}

/// Appends one value of a column of type `ty` to a DataRow.
pub fn put_value(row: &mut DataRowWriter<'_>, value: &Value, ty: &ColumnType, binary: bool) {
    if value.is_null() {
        row.null();
        return;
    }
    if !binary {
        match value {
            Value::Bool(b) => row.value(if *b { b"t" } else { b"f" }),
            Value::Int(i) => row.value_with(|out| out.put_slice(itoa_i64(*i).as_bytes())),
            Value::Float(f) => row.value(format_float(*f).as_bytes()),
            Value::Numeric(s) | Value::Text(s) => row.value(s.as_bytes()),
            Value::Date(d) => row.value(format_date(*d).as_bytes()),
            Value::Timestamp(t) => row.value(format_timestamp(*t).as_bytes()),
            Value::Null => row.null(),
        }
        return;
    }
    match (ty, value) {
        (ColumnType::Boolean, Value::Bool(b)) => row.value(&[u8::from(*b)]),
        (ColumnType::Integer, Value::Int(i)) => row.value(&i.to_be_bytes()),
        (ColumnType::Int32, Value::Int(i)) => row.value(&(*i as i32).to_be_bytes()),
        (ColumnType::Float, Value::Float(f)) => row.value(&f.to_bits().to_be_bytes()),
        (ColumnType::Float, Value::Int(i)) => row.value(&(*i as f64).to_bits().to_be_bytes()),
        (ColumnType::Date, Value::Date(d)) => row.value(&(d - PG_EPOCH_DAYS).to_be_bytes()),
        (ColumnType::Timestamp, Value::Timestamp(t)) => row.value(&(t - PG_EPOCH_MICROS).to_be_bytes()),
        (ColumnType::Numeric, v) => {
            let text = v.to_text().unwrap_or_default();
            row.value_with(|out| put_numeric(out, &text));
        }
        // Text, and anything whose value does not have the column's type: the text form.
        (_, v) => row.value(v.to_text().unwrap_or_default().as_bytes()),
    }
}

fn itoa_i64(i: i64) -> String {
    i.to_string()
}

/// PostgreSQL's binary NUMERIC: base-10000 digits with a weight, sign and display scale.
fn put_numeric(out: &mut BytesMut, text: &str) {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if !digits.bytes().all(|c| c.is_ascii_digit() || c == b'.') || digits.is_empty() {
        // NaN (or anything unexpected) is NaN.
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(0xC000);
        out.put_i16(0);
        return;
    }
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let int_part = int_part.trim_start_matches('0');
    let dscale = frac_part.len() as i16;
    let mut groups: Vec<i16> = Vec::new();
    // Integer part, grouped from the right.
    let lead = int_part.len() % 4;
    let mut chunks: Vec<&str> = Vec::new();
    if lead > 0 {
        chunks.push(&int_part[..lead]);
    }
    let mut i = lead;
    while i < int_part.len() {
        chunks.push(&int_part[i..i + 4]);
        i += 4;
    }
    let int_groups = chunks.len() as i16;
    groups.extend(chunks.iter().map(|c| c.parse::<i16>().unwrap_or(0)));
    // Fraction, grouped from the left and padded with zeros.
    let mut i = 0;
    while i < frac_part.len() {
        let end = (i + 4).min(frac_part.len());
        let mut chunk = frac_part[i..end].to_string();
        while chunk.len() < 4 {
            chunk.push('0');
        }
        groups.push(chunk.parse::<i16>().unwrap_or(0));
        i += 4;
    }
    let mut weight = int_groups - 1;
    let leading_zeros = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading_zeros);
    weight -= leading_zeros as i16;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.put_i16(groups.len() as i16);
    out.put_i16(weight);
    out.put_u16(if negative && !groups.is_empty() { 0x4000 } else { 0 });
    out.put_i16(dscale);
    for g in groups {
        out.put_i16(g);
    }
}

/// A bound parameter as a SQL literal for the warehouse. `type_oid` 0 means unspecified.
pub fn param_literal(value: Option<&[u8]>, binary: bool, type_oid: u32, position: usize) -> Result<String, String> {
    let Some(bytes) = value else {
        return Ok("NULL".to_string());
    };
    let bad = |what: &str| format!("parameter ${position}: {what}");
    if binary {
        let fixed = |n: usize| -> Result<&[u8], String> {
            if bytes.len() == n {
                Ok(bytes)
            } else {
                Err(bad(&format!(
                    "binary value of type OID {type_oid} must be {n} bytes, got {}",
                    bytes.len()
                )))
            }
        };
        return Ok(match type_oid {
            BOOL => (if fixed(1)?[0] != 0 { "true" } else { "false" }).to_string(),
            INT2 => i16::from_be_bytes(fixed(2)?.try_into().unwrap_or_default()).to_string(),
            INT4 | OID => i32::from_be_bytes(fixed(4)?.try_into().unwrap_or_default()).to_string(),
            INT8 => i64::from_be_bytes(fixed(8)?.try_into().unwrap_or_default()).to_string(),
            FLOAT4 => float_literal(f32::from_be_bytes(fixed(4)?.try_into().unwrap_or_default()).into()),
            FLOAT8 => float_literal(f64::from_be_bytes(fixed(8)?.try_into().unwrap_or_default())),
            DATE => {
                let days = i32::from_be_bytes(fixed(4)?.try_into().unwrap_or_default());
                format!("DATE '{}'", format_date(days.saturating_add(PG_EPOCH_DAYS)))
            }
            TIMESTAMP | TIMESTAMPTZ => {
                let micros = i64::from_be_bytes(fixed(8)?.try_into().unwrap_or_default());
                format!(
                    "TIMESTAMP '{}'",
                    format_timestamp(micros.saturating_add(PG_EPOCH_MICROS))
                )
            }
            UUID => {
                let b = fixed(16)?;
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!(
                    "'{}-{}-{}-{}-{}'::UUID",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                )
            }
            BYTEA => {
                let hex: String = bytes.iter().map(|x| format!("\\x{x:02X}")).collect();
                format!("'{hex}'::BLOB")
            }
            TEXT | VARCHAR | BPCHAR | NAME | 0 => {
                quote_literal(std::str::from_utf8(bytes).map_err(|_| bad("text value is not valid UTF-8"))?)
            }
            NUMERIC => numeric_from_binary(bytes).ok_or_else(|| bad("malformed binary numeric"))?,
            other => return Err(bad(&format!("binary format is not supported for type OID {other}"))),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| bad("value is not valid UTF-8"))?;
    Ok(match type_oid {
        INT2 | INT4 | INT8 | OID => {
            let n: i64 = text
                .trim()
                .parse()
                .map_err(|_| bad(&format!("invalid input syntax for type integer: \"{text}\"")))?;
            n.to_string()
        }
        FLOAT4 | FLOAT8 => {
            let f: f64 = text
                .trim()
                .parse()
                .map_err(|_| bad(&format!("invalid input syntax for type double precision: \"{text}\"")))?;
            float_literal(f)
        }
        NUMERIC => format!("CAST({} AS DECIMAL(38, 10))", quote_literal(text)),
        BOOL => format!("CAST({} AS BOOLEAN)", quote_literal(text)),
        DATE => format!("CAST({} AS DATE)", quote_literal(text)),
        TIMESTAMP => format!("CAST({} AS TIMESTAMP)", quote_literal(text)),
        TIMESTAMPTZ => format!("CAST({} AS TIMESTAMPTZ)", quote_literal(text)),
        _ => quote_literal(text),
    })
}

fn float_literal(f: f64) -> String {
    if f.is_finite() {
        format!("CAST({} AS DOUBLE)", format_float(f))
    } else {
        format!("CAST('{}' AS DOUBLE)", format_float(f))
    }
}

fn numeric_from_binary(b: &[u8]) -> Option<String> {
    if b.len() < 8 {
        return None;
    }
    let rd = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
    let ndigits = rd(0);
    let weight = rd(2) as i32;
    let sign = u16::from_be_bytes([b[4], b[5]]);
    let dscale = rd(6).max(0) as usize;
    if ndigits < 0 || b.len() != 8 + 2 * ndigits as usize {
        return None;
    }
    if sign == 0xC000 {
        return Some("CAST('NaN' AS DOUBLE)".into());
    }
    let digits: Vec<i16> = (0..ndigits as usize).map(|i| rd(8 + 2 * i)).collect();
    let mut int_part = String::new();
    for w in (0..=weight).rev() {
        let idx = (weight - w) as usize;
        let d = digits.get(idx).copied().unwrap_or(0);
        if int_part.is_empty() {
            int_part = d.to_string();
        } else {
            int_part.push_str(&format!("{d:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    let mut idx = weight + 1;
    while frac.len() < dscale {
        let d = if idx < 0 {
            0
        } else {
            digits.get(idx as usize).copied().unwrap_or(0)
        };
        frac.push_str(&format!("{d:04}"));
        idx += 1;
    }
    frac.truncate(dscale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Some(if frac.is_empty() {
        format!("{sign}{int_part}")
    } else {
        format!("{sign}{int_part}.{frac}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(text: &str) -> Vec<u8> {
        let mut b = BytesMut::new();
        put_numeric(&mut b, text);
        b.to_vec()
    }

    #[test]
    fn numeric_binary_round_trips() {
        for text in ["0", "1", "12345.678", "-0.0001", "10000", "123456789012.50"] {
            assert_eq!(numeric_from_binary(&numeric_bytes(text)).unwrap(), text, "{text}");
        }
        // 12345.678: digits 1, 2345, 6780; weight 1; dscale 3.
        assert_eq!(
            numeric_bytes("12345.678"),
            vec![0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]
        );
    }

    #[test]
    fn parameters_become_literals() {
        assert_eq!(param_literal(Some(b"O'Reilly"), false, 0, 1).unwrap(), "'O''Reilly'");
        assert_eq!(param_literal(Some(&41i32.to_be_bytes()), true, INT4, 1).unwrap(), "41");
        assert_eq!(param_literal(None, false, INT4, 1).unwrap(), "NULL");
        assert!(
            param_literal(Some(b"1; drop table x"), false, INT4, 2)
                .unwrap_err()
                .contains("parameter $2")
        );
        assert!(
            param_literal(Some(&[0, 1]), true, INT4, 1)
                .unwrap_err()
                .contains("must be 4 bytes")
        );
        assert_eq!(
            param_literal(Some(&(-1i32).to_be_bytes()), true, DATE, 1).unwrap(),
            "DATE '1999-12-31'"
        );
    }
}
