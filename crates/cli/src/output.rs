//! Prints a result set as an aligned table, CSV or JSON lines.

use crate::Format;
use strata_warehouse::{ResultSet, Value};

pub fn print(result: &ResultSet, format: Format) {
    let mut out = String::new();
    render(result, format, &mut out);
    print!("{out}");
}

pub fn render(result: &ResultSet, format: Format, out: &mut String) {
    let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
    match format {
        Format::Table => {
            let cells: Vec<Vec<String>> = result
                .rows
                .iter()
                .map(|r| r.iter().map(|v| v.to_text().unwrap_or_default()).collect())
                .collect();
            let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
            for row in &cells {
                for (w, c) in widths.iter_mut().zip(row) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |vals: Vec<&str>, numeric: &[bool]| {
                vals.iter()
                    .zip(&widths)
                    .zip(numeric)
                    .map(|((v, w), n)| if *n { format!(" {v:>w$} ") } else { format!(" {v:<w$} ") })
                    .collect::<Vec<_>>()
                    .join("|")
                    .trim_end()
                    .to_string()
            };
            let numeric: Vec<bool> = (0..names.len())
                .map(|i| {
                    result
                        .rows
                        .iter()
                        .any(|r| matches!(r[i], Value::Int(_) | Value::Float(_) | Value::Numeric(_)))
                })
                .collect();
            out.push_str(&line(names.clone(), &vec![false; names.len()]));
            out.push('\n');
            out.push_str(&widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
            out.push('\n');
            for row in &cells {
                out.push_str(&line(row.iter().map(String::as_str).collect(), &numeric));
                out.push('\n');
            }
            let n = result.rows.len();
            out.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
        }
        Format::Csv => {
            out.push_str(&names.iter().map(|n| csv_field(n)).collect::<Vec<_>>().join(","));
            out.push('\n');
            for row in &result.rows {
                out.push_str(
                    &row.iter()
                        .map(|v| v.to_text().map(|t| csv_field(&t)).unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(","),
                );
                out.push('\n');
            }
        }
        Format::Json => {
            for row in &result.rows {
                let obj: serde_json::Map<String, serde_json::Value> =
                    names.iter().zip(row).map(|(n, v)| (n.to_string(), json(v))).collect();
                out.push_str(&serde_json::Value::Object(obj).to_string());
                out.push('\n');
            }
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        other => other.to_text().unwrap_or_default().into(),
    }
}
