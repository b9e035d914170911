//! Values and result sets shared by every warehouse, their text forms, and the civil
//! calendar arithmetic behind `Date` and `Timestamp`.

use std::fmt;

/// The type of a column, as far as Strata needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnType {
    Boolean,
    /// 64-bit integer.
    Integer,
    /// An integer of 32 bits or fewer (INTEGER, SMALLINT, TINYINT): values are `Int` like
    /// [`ColumnType::Integer`]'s; clients that type results strictly see the narrower type.
    Int32,
    /// Double precision.
    Float,
    /// Exact decimal.
    Numeric,
    Text,
    Date,
    Timestamp,
    /// A type Strata does not map; the warehouse's own name, values are sent as text.
    Other(String),
}

/// A column of a result or of a table to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
}

impl Column {
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Column {
        Column { name: name.into(), ty }
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// An exact decimal in its text form, e.g. `12.50`.
    Numeric(String),
    Text(String),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01 00:00:00 (no time zone).
    Timestamp(i64),
}

/// All rows of a query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

impl Value {
    /// The value's text form, as PostgreSQL prints it (except booleans, which read
    /// `true`/`false`); `None` for `Null`.
    ///
    /// Dates are `YYYY-MM-DD`, timestamps `YYYY-MM-DD HH:MM:SS` with `.ffffff` (trailing zeros
    /// trimmed) only when there is a fraction; years before 1 AD end in ` BC`. Floats are in
    /// their shortest round-trip form (`7`, `5.5`, `1e+20`, `NaN`, `Infinity`).
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(if *b { "true" } else { "false" }.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Numeric(s) | Value::Text(s) => Some(s.clone()),
            Value::Date(d) => Some(format_date(*d)),
            Value::Timestamp(t) => Some(format_timestamp(*t)),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// `NULL` for `Null`, otherwise [`Value::to_text`].
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_text() {
            None => f.write_str("NULL"),
            Some(text) => f.write_str(&text),
        }
    }
}

/// A float in its shortest round-trip form, the way PostgreSQL (12+) prints `float8`: plain
/// digits for decimal exponents from -4 to 14, otherwise `d.ddde+XX`.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e20", "-5e-7".
    let sci = format!("{f:e}");
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return f.to_string();
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return f.to_string();
    };
    if (-4..15).contains(&exponent) {
        f.to_string()
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    }
}

/// Converts days since 1970-01-01 to a civil (proleptic Gregorian) `(year, month, day)`.
pub fn date_from_days(days: i32) -> (i32, u32, u32) {
    let (y, m, d) = civil_from_days(i64::from(days));
    // |days| < 2^31 keeps the year within ±5.9 million, so it fits.
    (
        i32::try_from(y).unwrap_or(if y < 0 { i32::MIN } else { i32::MAX }),
        m,
        d,
    )
}

/// Days since 1970-01-01 for a civil (proleptic Gregorian) date; `None` when the date does not
/// exist (month 13, February 30) or is out of range.
pub fn days_from_ymd(year: i32, month: u32, day: u32) -> Option<i32> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    i32::try_from(days_from_civil(i64::from(year), month, day)).ok()
}

/// Microseconds since 1970-01-01 00:00:00 for a date and time of day; `None` when a part is
/// out of range.
pub fn timestamp_from_parts(days: i32, hour: u32, minute: u32, second: u32, micros: u32) -> Option<i64> {
    if hour > 23 || minute > 59 || second > 59 || micros > 999_999 {
        return None;
    }
    let time = i64::from(hour * 3600 + minute * 60 + second) * MICROS_PER_SECOND + i64::from(micros);
    i64::from(days).checked_mul(MICROS_PER_DAY)?.checked_add(time)
}

/// Parses `YYYY-MM-DD` (exactly four year digits) into days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    days_from_ymd(i32::try_from(year).ok()?, month, day)
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f]` (or with `T` between date and time; up to nine fractional
/// digits, truncated to microseconds) into microseconds since 1970-01-01 00:00:00.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || (b[10] != b' ' && b[10] != b'T') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let days = parse_date(s.get(0..10)?)?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let mut micros = 0;
    if b.len() > 19 {
        let fraction = &b[20..];
        if b[19] != b'.' || fraction.is_empty() || fraction.len() > 9 {
            return None;
        }
        let mut scaled = digits(fraction)?;
        for _ in fraction.len()..6 {
            scaled *= 10;
        }
        for _ in 6..fraction.len() {
            scaled /= 10;
        }
        micros = scaled;
    }
    timestamp_from_parts(days, hour, minute, second, micros)
}

/// `YYYY-MM-DD`, or `YYYY-MM-DD BC` before year 1.
pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(days));
    let (year, bc) = display_year(y);
    format!("{year:04}-{m:02}-{d:02}{bc}")
}

/// `YYYY-MM-DD HH:MM:SS` with `.ffffff` trimmed of trailing zeros when fractional.
pub fn format_timestamp(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let time = micros.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (year, bc) = display_year(y);
    let seconds = time / MICROS_PER_SECOND;
    let fraction = time % MICROS_PER_SECOND;
    let (hh, mm, ss) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut out = format!("{year:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}");
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push_str(bc);
    out
}

fn display_year(y: i64) -> (i64, &'static str) {
    if y <= 0 { (1 - y, " BC") } else { (y, "") }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    b.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil calendar algorithms (http://howardhinnant.github.io/date_algorithms.html).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // In range by construction: day 1..=31, month 1..=12.
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_calendar_round_trips() {
        assert_eq!(date_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_ymd(2000, 3, 1), Some(11_017));
        assert_eq!(date_from_days(11_016), (2000, 2, 29));
        assert_eq!(days_from_ymd(1969, 12, 31), Some(-1));
        assert_eq!(days_from_ymd(2023, 2, 29), None);
        assert_eq!(days_from_ymd(2024, 2, 29), Some(19_782));
        assert_eq!(days_from_ymd(1900, 2, 29), None);
        assert_eq!(days_from_ymd(2024, 13, 1), None);
        assert_eq!(days_from_ymd(2024, 4, 31), None);
        for days in (-800_000..800_000).step_by(37) {
            let (y, m, d) = date_from_days(days);
            assert_eq!(days_from_ymd(y, m, d), Some(days), "{days}");
        }
        // The extremes do not panic.
        let _ = date_from_days(i32::MIN);
        let _ = date_from_days(i32::MAX);
        assert_eq!(days_from_ymd(i32::MAX, 12, 31), None);
    }

    #[test]
    fn parses_dates_and_timestamps() {
        assert_eq!(parse_date("2024-01-31"), Some(19_753));
        assert_eq!(parse_date("2024-1-31"), None);
        assert_eq!(parse_date("2024-02-30"), None);
        assert_eq!(parse_date("2024-01-3x"), None);
        assert_eq!(parse_date("+024-01-31"), None);
        let base = i64::from(parse_date("2024-01-31").unwrap_or(0)) * MICROS_PER_DAY;
        assert_eq!(parse_timestamp("2024-01-31 00:00:00"), Some(base));
        assert_eq!(parse_timestamp("2024-01-31T01:02:03"), Some(base + 3_723_000_000));
        assert_eq!(parse_timestamp("2024-01-31 01:02:03.5"), Some(base + 3_723_500_000));
        assert_eq!(
            parse_timestamp("2024-01-31 01:02:03.123456789"),
            Some(base + 3_723_123_456)
        );
        assert_eq!(parse_timestamp("2024-01-31 01:02:03."), None);
        assert_eq!(parse_timestamp("2024-01-31 24:00:00"), None);
        assert_eq!(parse_timestamp("2024-01-31 01:02:03Z"), None);
        assert_eq!(parse_timestamp("2024-01-31 01:02:03.1234567890"), None);
        assert_eq!(parse_timestamp("2024-01-31"), None);
        assert_eq!(parse_timestamp("2024-01-31 1:02:03"), None);
        assert_eq!(parse_timestamp("2024-01-31 01:02:03.é"), None);
    }

    #[test]
    fn text_forms() {
        assert_eq!(Value::Null.to_text(), None);
        assert_eq!(Value::Null.to_string(), "NULL");
        assert_eq!(Value::Bool(true).to_string(), "true");
        assert_eq!(Value::Bool(false).to_string(), "false");
        assert_eq!(Value::Int(-42).to_string(), "-42");
        assert_eq!(Value::Numeric("12.50".into()).to_string(), "12.50");
        assert_eq!(Value::Text("a\tb".into()).to_string(), "a\tb");
        assert_eq!(Value::Date(0).to_string(), "1970-01-01");
        assert_eq!(Value::Date(-719_163).to_string(), "0001-12-31 BC");
        assert_eq!(Value::Timestamp(0).to_string(), "1970-01-01 00:00:00");
        assert_eq!(Value::Timestamp(-1).to_string(), "1969-12-31 23:59:59.999999");
        assert_eq!(Value::Timestamp(1_500_000).to_string(), "1970-01-01 00:00:01.5");
        assert_eq!(
            Value::Timestamp(86_400_000_123).to_string(),
            "1970-01-02 00:00:00.000123"
        );
        let _ = Value::Timestamp(i64::MIN).to_string();
        let _ = Value::Timestamp(i64::MAX).to_string();
    }

    #[test]
    fn floats_print_shortest_round_trip() {
        let cases = [
            (7.0, "7"),
            (5.5, "5.5"),
            (1.0 / 3.0, "0.3333333333333333"),
            (-0.25, "-0.25"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e14, "100000000000000"),
            (1e15, "1e+15"),
            (1.5e300, "1.5e+300"),
            (-2.5e-300, "-2.5e-300"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (f, text) in cases {
            assert_eq!(format_float(f), text, "{f:?}");
            if f.is_finite() {
                assert_eq!(text.parse::<f64>().ok(), Some(f));
            }
        }
    }
}
