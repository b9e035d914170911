//! Exact decimals as text: normalizing literals and formatting scaled integers.

/// The longest exponent a literal may have; a larger one would spell out absurdly long text.
const MAX_EXPONENT: i64 = 1000;

/// The plain form of a decimal literal (`+1.50e1` → `15.0`, `.5` → `0.5`, `-007` → `-7`):
/// no `+`, no exponent, no leading zeros; the fractional digits are kept as written, since
/// their number is the scale. `None` when `s` (trimmed) is not a decimal number.
pub(crate) fn normalize(s: &str) -> Option<String> {
    let s = s.trim();
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], parse_exponent(&rest[at + 1..])?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let digits = format!("{int}{frac}");
    // Where the decimal point falls in `digits`, possibly outside it.
    let point = i64::try_from(int.len()).ok()? + exponent;
    let len = i64::try_from(digits.len()).ok()?;
    let (int_part, frac_part) = if point <= 0 {
        (
            String::new(),
            format!("{}{digits}", "0".repeat(usize::try_from(-point).ok()?)),
        )
    } else if point >= len {
        (
            format!("{digits}{}", "0".repeat(usize::try_from(point - len).ok()?)),
            String::new(),
        )
    } else {
        let (a, b) = digits.split_at(usize::try_from(point).ok()?);
        (a.to_string(), b.to_string())
    };
    let int_part = int_part.trim_start_matches('0');
    let int_part = if int_part.is_empty() { "0" } else { int_part };
    let nonzero = digits.bytes().any(|b| b != b'0');
    let sign = if negative && nonzero { "-" } else { "" };
    Some(if frac_part.is_empty() {
        format!("{sign}{int_part}")
    } else {
        format!("{sign}{int_part}.{frac_part}")
    })
}

fn parse_exponent(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let exponent: i64 = s.parse().ok()?;
    (exponent.abs() <= MAX_EXPONENT).then_some(exponent)
}

/// `(integer digits, fractional digits)` of a normalized decimal; a lone `0` before the point
/// counts as no integer digit, so `0.25` fits `DECIMAL(2,2)`.
pub(crate) fn shape(normalized: &str) -> (usize, usize) {
    let unsigned = normalized.trim_start_matches('-');
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    (if int == "0" { 0 } else { int.len() }, frac.len())
}

/// A scaled integer as a decimal: `(1250, 2)` → `12.50`.
pub(crate) fn format_scaled(value: i128, scale: u32) -> String {
    let digits = value.unsigned_abs().to_string();
    let sign = if value < 0 { "-" } else { "" };
    let scale = scale as usize;
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_literals() {
        let cases = [
            ("12.50", Some("12.50")),
            ("+1.50e1", Some("15.0")),
            (" -007 ", Some("-7")),
            (".5", Some("0.5")),
            ("5.", Some("5")),
            ("-0.00", Some("0.00")),
            ("1e3", Some("1000")),
            ("1.5E-3", Some("0.0015")),
            ("123e-1", Some("12.3")),
            ("", None),
            (".", None),
            ("-", None),
            ("1.2.3", None),
            ("1e", None),
            ("1e+", None),
            ("1e99999", None),
            ("abc", None),
            ("1_000", None),
            ("١٢", None),
            ("NaN", None),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(input).as_deref(), expected, "{input:?}");
        }
    }

    #[test]
    fn shapes_and_scaled_integers() {
        assert_eq!(shape("12.50"), (2, 2));
        assert_eq!(shape("-0.25"), (0, 2));
        assert_eq!(shape("-1234"), (4, 0));
        assert_eq!(format_scaled(1250, 2), "12.50");
        assert_eq!(format_scaled(-5, 3), "-0.005");
        assert_eq!(format_scaled(0, 2), "0.00");
        assert_eq!(format_scaled(42, 0), "42");
        assert_eq!(
            format_scaled(i128::MIN, 38),
            "-1.70141183460469231731687303715884105728"
        );
    }
}
