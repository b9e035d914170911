//! dbt seeds: a CSV file loaded into a warehouse table the way `dbt seed` does it.
//!
//! The first row is the header; names are kept as written (an empty name becomes a letter,
//! `a`, `b`, ..., and a repeated one gets `_2`, `_3`, ... as agate does). A field that is empty
//! or `null` (any case, surrounding blanks ignored) is NULL. Each column's type is inferred from
//! all its values, in agate's order: integers → `Integer` (all-NULL columns too); other plain
//! decimals → `Numeric`, or `Float` when one is written with an exponent; `YYYY-MM-DD` →
//! `Date`; dates mixed with `YYYY-MM-DD HH:MM:SS[.f]` (or `T` instead of the blank) →
//! `Timestamp`; `true`/`false` in any case → `Boolean`; anything else → `Text`. The seed's
//! `column_types` config overrides a column's type with a SQL type name.
//!
//! Loading reads the file twice (once to check and infer, once to load) and holds one row at a
//! time. Every error names the file, and the line and column when there are some.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use csv::{ByteRecord, ReaderBuilder};

use crate::{Column, ColumnType, Error, Value, Warehouse, decimal, parse_date, parse_timestamp};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Loads the seed at `csv_path` into `schema.table` (created or replaced), with column types
/// inferred from the data or given by `column_types` (pairs of column name and SQL type, as in
/// the seed's `column_types` config). Returns the number of rows loaded.
pub fn load_seed(
    w: &mut dyn Warehouse,
    schema: Option<&str>,
    table: &str,
    csv_path: &Path,
    column_types: &[(String, String)],
) -> Result<u64, Error> {
    let file = csv_path.display().to_string();
    let columns = infer_columns_from_reader(&file, open(csv_path)?, column_types)?;
    let (csv, _) = SeedCsv::new(&file, open(csv_path)?)?;
    let types = columns.iter().map(|c| c.ty.clone()).collect();
    let mut rows = SeedRows {
        csv,
        types,
        fields: Vec::new(),
        error: None,
    };
    let loaded = w.load_table(schema, table, &columns, &mut rows);
    // Only when the file changed between the two readings.
    if let Some(error) = rows.error.take() {
        return Err(error);
    }
    loaded
}

/// The columns of the seed at `csv_path`: names from the header, types inferred or overridden
/// (see the module docs). Checks every row as [`load_seed`] would.
pub fn infer_columns(csv_path: &Path, column_types: &[(String, String)]) -> Result<Vec<Column>, Error> {
    infer_columns_from_reader(&csv_path.display().to_string(), open(csv_path)?, column_types)
}

/// [`infer_columns`] over CSV text from any reader; `file` names it in errors.
pub fn infer_columns_from_reader(
    file: &str,
    csv: impl Read,
    column_types: &[(String, String)],
) -> Result<Vec<Column>, Error> {
    // Every type name must be known, even for a column the seed does not have (dbt ignores
    // such a column).
    let mut known = Vec::with_capacity(column_types.len());
    for (column, type_name) in column_types {
        let ty = sql_type(type_name).ok_or_else(|| {
            Error::new(format!(
                "unknown seed column type: column \"{column}\" has type \"{type_name}\" in column_types (in {file})"
            ))
        })?;
        known.push((column.as_str(), ty, type_name.as_str()));
    }
    let (mut csv, names) = SeedCsv::new(file, csv)?;
    let overrides: Vec<Option<(ColumnType, &str)>> = names
        .iter()
        .map(|name| {
            // The last entry for a column wins, as in a YAML mapping.
            known
                .iter()
                .rev()
                .find(|(column, _, _)| column == name)
                .map(|(_, ty, type_name)| (ty.clone(), *type_name))
        })
        .collect();

    let mut evidence = vec![Evidence::default(); names.len()];
    let mut fields = Vec::new();
    while let Some(line) = csv.next_row(&mut fields)? {
        for (i, field) in fields.iter().enumerate() {
            match &overrides[i] {
                None => evidence[i].observe(field),
                Some((ty, type_name)) => {
                    if parse_field(field, ty).is_none() {
                        return Err(Error::new(format!(
                            "invalid seed value: \"{field}\" in column {} \"{}\" is not a valid {type_name} (in {file}:{line})",
                            i + 1,
                            names[i]
                        )));
                    }
                }
            }
        }
    }
    Ok(names
        .into_iter()
        .zip(overrides)
        .zip(evidence)
        .map(|((name, overridden), evidence)| {
            let ty = match overridden {
                Some((ty, _)) => ty,
                None => evidence.column_type(),
            };
            Column::new(name, ty)
        })
        .collect())
}

/// The column type of a SQL type name as written in a seed's `column_types` (any case, with or
/// without a length or precision: `varchar(20)`, `decimal(10,2)`); `None` for a name Strata does
/// not know.
pub fn sql_type(name: &str) -> Option<ColumnType> {
    let lower = name.trim().to_ascii_lowercase();
    let (base, args) = match lower.split_once('(') {
        Some((base, rest)) => (base.trim(), Some(rest.strip_suffix(')')?)),
        None => (lower.as_str(), None),
    };
    if let Some(args) = args
        && !args
            .split(',')
            .all(|arg| !arg.trim().is_empty() && arg.trim().bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(match base.as_str() {
        "varchar" | "text" | "string" | "char" | "character" | "character varying" | "nvarchar" | "bpchar" => {
            ColumnType::Text
        }
        "integer" | "int" | "bigint" | "smallint" | "tinyint" | "int2" | "int4" | "int8" | "hugeint" => {
            ColumnType::Integer
        }
        "float" | "double" | "double precision" | "real" | "float4" | "float8" => ColumnType::Float,
        "numeric" | "decimal" => ColumnType::Numeric,
        "date" => ColumnType::Date,
        "timestamp" | "datetime" | "timestamp without time zone" => ColumnType::Timestamp,
        "boolean" | "bool" => ColumnType::Boolean,
        _ => return None,
    })
}

fn open(path: &Path) -> Result<BufReader<File>, Error> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| Error::new(format!("cannot read seed: {e} (in {})", path.display())))
}

/// NULL in a seed: an empty field or `null`, in any case, blanks around ignored.
fn is_null(field: &str) -> bool {
    let trimmed = field.trim();
    trimmed.is_empty() || trimmed.eq_ignore_ascii_case("null")
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A field as a value of the column's type; `None` when it is not one.
fn parse_field(field: &str, ty: &ColumnType) -> Option<Value> {
    if is_null(field) {
        return Some(Value::Null);
    }
    let s = field.trim();
    Some(match ty {
        ColumnType::Boolean => Value::Bool(parse_bool(s)?),
        ColumnType::Integer | ColumnType::Int32 => Value::Int(s.parse().ok()?),
        ColumnType::Float => Value::Float(s.parse().ok()?),
        ColumnType::Numeric => Value::Numeric(decimal::normalize(s)?),
        ColumnType::Date => Value::Date(parse_date(s)?),
        ColumnType::Timestamp => Value::Timestamp(match parse_timestamp(s) {
            Some(micros) => micros,
            None => i64::from(parse_date(s)?) * MICROS_PER_DAY,
        }),
        ColumnType::Text | ColumnType::Other(_) => Value::Text(field.to_string()),
    })
}

/// What the values of a column seen so far rule out.
#[derive(Debug, Clone, Default)]
struct Evidence {
    not_integer: bool,
    not_number: bool,
    exponent: bool,
    not_date: bool,
    not_timestamp: bool,
    not_boolean: bool,
}

impl Evidence {
    fn observe(&mut self, field: &str) {
        if is_null(field) {
            return;
        }
        let s = field.trim();
        self.not_integer |= s.parse::<i64>().is_err();
        if !self.not_number {
            match decimal::normalize(s) {
                Some(_) => self.exponent |= s.contains(['e', 'E']),
                None => self.not_number = true,
            }
        }
        let date = parse_date(s).is_some();
        self.not_date |= !date;
        self.not_timestamp |= !date && parse_timestamp(s).is_none();
        self.not_boolean |= !(s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false"));
    }

    fn column_type(&self) -> ColumnType {
        if !self.not_integer {
            ColumnType::Integer
        } else if !self.not_number {
            if self.exponent {
                ColumnType::Float
            } else {
                ColumnType::Numeric
            }
        } else if !self.not_date {
            ColumnType::Date
        } else if !self.not_timestamp {
            ColumnType::Timestamp
        } else if !self.not_boolean {
            ColumnType::Boolean
        } else {
            ColumnType::Text
        }
    }
}

/// A seed file's rows as text, checked for shape and encoding.
struct SeedCsv<R: Read> {
    file: String,
    reader: csv::Reader<R>,
    record: ByteRecord,
    names: Vec<String>,
}

impl<R: Read> SeedCsv<R> {
    /// Reads the header; returns the reader and the column names.
    fn new(file: &str, input: R) -> Result<(SeedCsv<R>, Vec<String>), Error> {
        let reader = ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut csv = SeedCsv {
            file: file.to_string(),
            reader,
            record: ByteRecord::new(),
            names: Vec::new(),
        };
        let mut header = Vec::new();
        if csv.read(&mut header)?.is_none() {
            return Err(Error::new(format!(
                "malformed seed: the file is empty, it needs a header row (in {file})"
            )));
        }
        if let Some(first) = header.first_mut()
            && let Some(stripped) = first.strip_prefix('\u{feff}')
        {
            *first = stripped.to_string();
        }
        let mut names: Vec<String> = Vec::with_capacity(header.len());
        for (i, name) in header.into_iter().enumerate() {
            let name = if name.is_empty() { letter_name(i) } else { name };
            let mut unique = name.clone();
            let mut n = 2;
            while names.contains(&unique) {
                unique = format!("{name}_{n}");
                n += 1;
            }
            names.push(unique);
        }
        csv.names = names.clone();
        Ok((csv, names))
    }

    /// Reads the next record into `fields`; returns its line number, `None` at the end.
    fn read(&mut self, fields: &mut Vec<String>) -> Result<Option<u64>, Error> {
        let more = self.reader.read_byte_record(&mut self.record).map_err(|e| {
            let at = e
                .position()
                .map_or_else(|| self.file.clone(), |p| format!("{}:{}", self.file, p.line()));
            Error::new(format!("malformed seed: {e} (in {at})"))
        })?;
        if !more {
            return Ok(None);
        }
        let line = self.record.position().map_or(0, |p| p.line());
        fields.clear();
        for (i, bytes) in self.record.iter().enumerate() {
            let text = std::str::from_utf8(bytes).map_err(|_| {
                let column = match self.names.get(i) {
                    Some(name) => format!("column {} \"{name}\"", i + 1),
                    None => format!("column {}", i + 1),
                };
                Error::new(format!(
                    "malformed seed: {column} is not valid UTF-8 (in {}:{line})",
                    self.file
                ))
            })?;
            fields.push(text.to_string());
        }
        Ok(Some(line))
    }

    /// Reads the next data row, which must have as many fields as the header.
    fn next_row(&mut self, fields: &mut Vec<String>) -> Result<Option<u64>, Error> {
        let Some(line) = self.read(fields)? else {
            return Ok(None);
        };
        let (found, expected) = (fields.len(), self.names.len());
        if found < expected {
            return Err(Error::new(format!(
                "malformed seed: the row has {found} fields but the header has {expected}; column {} \"{}\" is missing (in {}:{line})",
                found + 1,
                self.names[found],
                self.file
            )));
        }
        if found > expected {
            return Err(Error::new(format!(
                "malformed seed: the row has {found} fields but the header has {expected}; column {} has no header (in {}:{line})",
                expected + 1,
                self.file
            )));
        }
        Ok(Some(line))
    }
}

/// agate's name for an unnamed column: `a` ... `z`, `aa` ... `zz`, `aaa` ...
fn letter_name(index: usize) -> String {
    let letter = char::from(b'a' + (index % 26) as u8);
    std::iter::repeat_n(letter, index / 26 + 1).collect()
}

/// The rows of a seed as values of its columns' types; stops at the first error and keeps it.
struct SeedRows<R: Read> {
    csv: SeedCsv<R>,
    types: Vec<ColumnType>,
    fields: Vec<String>,
    error: Option<Error>,
}

impl<R: Read> Iterator for SeedRows<R> {
    type Item = Vec<Value>;

    fn next(&mut self) -> Option<Vec<Value>> {
        if self.error.is_some() {
            return None;
        }
        let line = match self.csv.next_row(&mut self.fields) {
            Ok(Some(line)) => line,
            Ok(None) => return None,
            Err(e) => {
                self.error = Some(e);
                return None;
            }
        };
        let mut values = Vec::with_capacity(self.types.len());
        for (i, (field, ty)) in self.fields.iter().zip(&self.types).enumerate() {
            match parse_field(field, ty) {
                Some(value) => values.push(value),
                None => {
                    self.error = Some(Error::new(format!(
                        "invalid seed value: \"{field}\" in column {} \"{}\" changed while loading (in {}:{line})",
                        i + 1,
                        self.csv.names[i],
                        self.csv.file
                    )));
                    return None;
                }
            }
        }
        Some(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_sql_type_names() {
        let cases = [
            ("varchar", Some(ColumnType::Text)),
            ("VARCHAR(20)", Some(ColumnType::Text)),
            ("char(3)", Some(ColumnType::Text)),
            ("character varying (10)", Some(ColumnType::Text)),
            ("string", Some(ColumnType::Text)),
            ("text", Some(ColumnType::Text)),
            ("integer", Some(ColumnType::Integer)),
            ("int", Some(ColumnType::Integer)),
            ("bigint", Some(ColumnType::Integer)),
            ("smallint", Some(ColumnType::Integer)),
            ("float", Some(ColumnType::Float)),
            ("double", Some(ColumnType::Float)),
            ("Double Precision", Some(ColumnType::Float)),
            ("real", Some(ColumnType::Float)),
            ("numeric", Some(ColumnType::Numeric)),
            ("decimal(10, 2)", Some(ColumnType::Numeric)),
            ("date", Some(ColumnType::Date)),
            ("timestamp", Some(ColumnType::Timestamp)),
            ("datetime", Some(ColumnType::Timestamp)),
            ("boolean", Some(ColumnType::Boolean)),
            ("bool", Some(ColumnType::Boolean)),
            ("blob", None),
            ("decimal(10,", None),
            ("decimal(a)", None),
            ("varchar()", None),
            ("", None),
        ];
        for (name, expected) in cases {
            assert_eq!(sql_type(name), expected, "{name:?}");
        }
    }

    #[test]
    fn letter_names_follow_agate() {
        assert_eq!(letter_name(0), "a");
        assert_eq!(letter_name(25), "z");
        assert_eq!(letter_name(26), "aa");
        assert_eq!(letter_name(27), "bb");
    }
}
