//! PostgreSQL's binary result format to [`Value`]s, for the types Strata maps; every other
//! type is cast to `text` in the query (see `pg`).

use std::error::Error as StdError;

use postgres::types::{FromSql, Kind, Type};

use crate::{ColumnType, Value};

type DecodeError = Box<dyn StdError + Sync + Send>;

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS as i64 * 86_400_000_000;

/// How a result column of a PostgreSQL type is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decoder {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    Jsonb,
    Uuid,
    Char,
    Date,
    Timestamp,
}

/// The column type and the decoder of a PostgreSQL type; `None` decoder when the values have to
/// be cast to `text` in the query.
pub(super) fn classify(ty: &Type) -> (ColumnType, Option<Decoder>) {
    if let Kind::Domain(base) = ty.kind() {
        return classify(base);
    }
    if let Kind::Enum(_) = ty.kind() {
        return (ColumnType::Text, Some(Decoder::Text));
    }
    let other = || ColumnType::Other(type_name(ty));
    match *ty {
        Type::BOOL => (ColumnType::Boolean, Some(Decoder::Bool)),
        Type::INT2 => (ColumnType::Int32, Some(Decoder::Int2)),
        Type::INT4 => (ColumnType::Int32, Some(Decoder::Int4)),
        Type::INT8 => (ColumnType::Integer, Some(Decoder::Int8)),
        Type::OID => (ColumnType::Integer, Some(Decoder::Oid)),
        Type::FLOAT4 => (ColumnType::Float, Some(Decoder::Float4)),
        Type::FLOAT8 => (ColumnType::Float, Some(Decoder::Float8)),
        Type::NUMERIC => (ColumnType::Numeric, Some(Decoder::Numeric)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            (ColumnType::Text, Some(Decoder::Text))
        }
        Type::CHAR => (ColumnType::Text, Some(Decoder::Char)),
        Type::JSON | Type::XML => (other(), Some(Decoder::Text)),
        Type::JSONB => (other(), Some(Decoder::Jsonb)),
        Type::UUID => (other(), Some(Decoder::Uuid)),
        Type::DATE => (ColumnType::Date, Some(Decoder::Date)),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => (ColumnType::Timestamp, Some(Decoder::Timestamp)),
        _ => (other(), None),
    }
}

/// `int4[]` for arrays, the plain name otherwise.
pub(super) fn type_name(ty: &Type) -> String {
    match ty.kind() {
        Kind::Array(element) => format!("{}[]", element.name()),
        _ => ty.name().to_string(),
    }
}

/// A value of any type, read by [`Decoder`]; the `text` of values cast in the query.
pub(super) struct PgValue(pub(super) Value);

impl<'a> FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<PgValue, DecodeError> {
        let decoder = classify(ty)
            .1
            .ok_or_else(|| format!("cannot read values of type {}", type_name(ty)))?;
        decode(decoder, raw).map(PgValue)
    }

    fn from_sql_null(_: &Type) -> Result<PgValue, DecodeError> {
        Ok(PgValue(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn fixed<const N: usize>(raw: &[u8]) -> Result<[u8; N], DecodeError> {
    raw.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", raw.len()).into())
}

fn text(raw: &[u8]) -> Result<String, DecodeError> {
    Ok(std::str::from_utf8(raw)?.to_string())
}

pub(super) fn decode(decoder: Decoder, raw: &[u8]) -> Result<Value, DecodeError> {
    Ok(match decoder {
        Decoder::Bool => Value::Bool(fixed::<1>(raw)?[0] != 0),
        Decoder::Int2 => Value::Int(i16::from_be_bytes(fixed(raw)?).into()),
        Decoder::Int4 => Value::Int(i32::from_be_bytes(fixed(raw)?).into()),
        Decoder::Int8 => Value::Int(i64::from_be_bytes(fixed(raw)?)),
        Decoder::Oid => Value::Int(u32::from_be_bytes(fixed(raw)?).into()),
        Decoder::Float4 => {
            let f = f32::from_be_bytes(fixed(raw)?);
            // Through its shortest text, so that real 0.1 reads 0.1.
            Value::Float(f.to_string().parse().unwrap_or(f64::from(f)))
        }
        Decoder::Float8 => Value::Float(f64::from_be_bytes(fixed(raw)?)),
        Decoder::Numeric => Value::Numeric(numeric_text(raw)?),
        Decoder::Text => Value::Text(text(raw)?),
        Decoder::Jsonb => match raw.split_first() {
            Some((1, json)) => Value::Text(text(json)?),
            _ => return Err("unsupported jsonb version".into()),
        },
        Decoder::Uuid => {
            let b: [u8; 16] = fixed(raw)?;
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            Value::Text(format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            ))
        }
        Decoder::Char => Value::Text(String::from_utf8_lossy(raw).into_owned()),
        Decoder::Date => match i32::from_be_bytes(fixed(raw)?) {
            i32::MAX => Value::Text("infinity".to_string()),
            i32::MIN => Value::Text("-infinity".to_string()),
            days => days
                .checked_add(PG_EPOCH_DAYS)
                .map_or_else(|| Value::Text(format!("{days}")), Value::Date),
        },
        Decoder::Timestamp => match i64::from_be_bytes(fixed(raw)?) {
            i64::MAX => Value::Text("infinity".to_string()),
            i64::MIN => Value::Text("-infinity".to_string()),
            micros => micros
                .checked_add(PG_EPOCH_MICROS)
                .map_or_else(|| Value::Text(format!("{micros}")), Value::Timestamp),
        },
    })
}

/// The exact text of a binary `numeric`: a header of four 16-bit fields (number of digits,
/// weight of the first digit, sign, display scale) and base-10000 digits.
pub(super) fn numeric_text(raw: &[u8]) -> Result<String, DecodeError> {
    let field = |i: usize| -> Result<u16, DecodeError> {
        let bytes = raw.get(i * 2..i * 2 + 2).ok_or("truncated numeric")?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    };
    let ndigits = usize::from(field(0)?);
    let weight = i64::from(field(1)? as i16);
    let sign = field(2)?;
    let dscale = usize::from(field(3)?);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Ok("NaN".to_string()),
        0xD000 => return Ok("Infinity".to_string()),
        0xF000 => return Ok("-Infinity".to_string()),
        _ => return Err(format!("invalid numeric sign {sign:#x}").into()),
    }
    if raw.len() != 8 + ndigits * 2 {
        return Err("numeric length does not match its digit count".into());
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        let d = field(4 + i)?;
        if d > 9999 {
            return Err(format!("invalid numeric digit {d}").into());
        }
        digits.push(d);
    }
    // The digit with exponent `e` (base 10000) is digits[weight - e].
    let digit_at = |e: i64| -> u16 {
        usize::try_from(weight - e)
            .ok()
            .and_then(|i| digits.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit_at(weight).to_string());
        for e in (0..weight).rev() {
            out.push_str(&format!("{:04}", digit_at(e)));
        }
    }
    if dscale > 0 {
        let mut fraction = String::with_capacity(dscale + 4);
        let mut e = -1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit_at(e)));
            e -= 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut raw = Vec::new();
        for field in [ndigits, weight as u16, sign, dscale].iter().chain(digits) {
            raw.extend_from_slice(&field.to_be_bytes());
        }
        raw
    }

    #[test]
    fn decodes_binary_numerics() {
        let ok = |raw: Vec<u8>| numeric_text(&raw).unwrap_or_else(|e| e.to_string());
        assert_eq!(ok(numeric(2, 0, 0, 2, &[12, 5000])), "12.50");
        assert_eq!(ok(numeric(0, 0, 0, 0, &[])), "0");
        assert_eq!(ok(numeric(0, 0, 0, 3, &[])), "0.000");
        assert_eq!(ok(numeric(1, 1, 0x4000, 0, &[1])), "-10000");
        assert_eq!(ok(numeric(1, -2, 0, 8, &[5])), "0.00000005");
        assert_eq!(ok(numeric(3, 2, 0, 0, &[1, 2, 3])), "100020003");
        assert_eq!(ok(numeric(2, 0, 0, 6, &[1, 2345])), "1.234500");
        assert_eq!(ok(numeric(0, 0, 0xC000, 0, &[])), "NaN");
        assert_eq!(ok(numeric(0, 0, 0xD000, 0, &[])), "Infinity");
        assert_eq!(ok(numeric(0, 0, 0xF000, 0, &[])), "-Infinity");
        assert!(numeric_text(&numeric(2, 0, 0, 0, &[1])).is_err());
        assert!(numeric_text(&numeric(1, 0, 0, 0, &[10_000])).is_err());
        assert!(numeric_text(&numeric(1, 0, 0x1234, 0, &[1])).is_err());
        assert!(numeric_text(&[0, 1]).is_err());
    }

    #[test]
    fn decodes_dates_and_timestamps() {
        let date = |days: i32| decode(Decoder::Date, &days.to_be_bytes()).ok();
        assert_eq!(date(0), Some(Value::Date(10_957)));
        assert_eq!(date(i32::MAX), Some(Value::Text("infinity".into())));
        assert_eq!(date(i32::MAX - 1), Some(Value::Text((i32::MAX - 1).to_string())));
        let ts = |micros: i64| decode(Decoder::Timestamp, &micros.to_be_bytes()).ok();
        assert_eq!(ts(0), Some(Value::Timestamp(PG_EPOCH_MICROS)));
        assert_eq!(ts(i64::MIN), Some(Value::Text("-infinity".into())));
        assert!(decode(Decoder::Int8, &[1, 2]).is_err());
    }
}
