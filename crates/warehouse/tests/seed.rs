//! dbt seeds: type inference, `column_types` overrides, loading, and every malformed input.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use strata_warehouse::seed::{infer_columns, infer_columns_from_reader, load_seed};
use strata_warehouse::{ColumnType, DuckDb, Value, Warehouse};

/// Writes `contents` to a fresh file named `name` in a directory of the test's own.
fn seed_file(test: &str, name: &str, contents: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("seeds-{}-{test}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("{e}");
    }
    let path = dir.join(name);
    if let Err(e) = std::fs::write(&path, contents) {
        panic!("{e}");
    }
    path
}

fn overrides(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(c, t)| (c.to_string(), t.to_string())).collect()
}

fn infer_err(csv: &[u8], column_types: &[(&str, &str)]) -> String {
    match infer_columns_from_reader("seeds/bad.csv", csv, &overrides(column_types)) {
        Ok(columns) => panic!("expected an error, got {columns:?}"),
        Err(e) => e.message,
    }
}

fn types(csv: &str) -> Vec<ColumnType> {
    match infer_columns_from_reader("seeds/x.csv", csv.as_bytes(), &[]) {
        Ok(columns) => columns.into_iter().map(|c| c.ty).collect(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn infers_types_like_dbt() {
    use ColumnType::*;
    let csv = "\
id,amount,ratio,flag,day,at,name,empty,mixed_num,zip
1,12.50,1e-3,True,2024-01-31,2024-01-31 10:00:00,Alice,,1,01234
2,-3,2.5E2,false,2024-02-29,2024-02-29T11:30:00.25,Bob,,2.5,00000
-3,,,FALSE,,2024-03-01,,null,,99999
,0.125,7,,2024-03-02, 2024-03-02 01:02:03 ,  Carol  , ,-4,12345
";
    assert_eq!(
        types(csv),
        vec![
            Integer, Numeric, Float, Boolean, Date, Timestamp, Text, Integer, Numeric, Integer
        ]
    );

    assert_eq!(types("a\n1\n99999999999999999999\n"), vec![Numeric]);
    assert_eq!(types("a\n1\nx\n"), vec![Text]);
    assert_eq!(types("a\ntrue\n1\n"), vec![Text]);
    assert_eq!(types("a\n2024-01-01\n2024-13-01\n"), vec![Text]);
    assert_eq!(types("a\n2024-01-01 10:00:00+02\n"), vec![Text]);
    assert_eq!(types("a\nyes\nno\n"), vec![Text]);
    assert_eq!(types("a\nNaN\n"), vec![Text]);
    assert_eq!(types("a,b\n"), vec![Integer, Integer]);
}

#[test]
fn keeps_header_names_and_quoted_fields() {
    let csv = "\u{feff}Order ID,,name,name,\"Quoted, Name\"\n1,x,\"multi\nline\",\"a \"\"b\"\"\",z\n";
    let columns = match infer_columns_from_reader("seeds/h.csv", csv.as_bytes(), &[]) {
        Ok(columns) => columns,
        Err(e) => panic!("{e}"),
    };
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["Order ID", "b", "name", "name_2", "Quoted, Name"]);
}

#[test]
fn loads_seeds_into_duckdb() {
    let path = seed_file(
        "load",
        "orders.csv",
        b"id,Amount,flag,day,at,note\n1,12.50,true,2024-01-31,2024-01-31T10:00:00,\"x, \"\"y\"\"\"\n2,-3,False,2024-02-29,2024-02-29,\n3,,,,,null\n",
    );
    let mut w = match DuckDb::in_memory() {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(load_seed(&mut w, Some("seeds"), "orders", &path, &[]), Ok(3));
    let result = query(&mut w, "select * from seeds.orders order by id");
    let names: Vec<(&str, &ColumnType)> = result.columns.iter().map(|c| (c.name.as_str(), &c.ty)).collect();
    use ColumnType::*;
    assert_eq!(
        names,
        vec![
            ("id", &Integer),
            ("Amount", &Numeric),
            ("flag", &Boolean),
            ("day", &Date),
            ("at", &Timestamp),
            ("note", &Text)
        ]
    );
    assert_eq!(
        result.rows,
        vec![
            vec![
                Value::Int(1),
                num("12.50"),
                Value::Bool(true),
                date("2024-01-31"),
                ts("2024-01-31 10:00:00"),
                text("x, \"y\"")
            ],
            vec![
                Value::Int(2),
                num("-3.00"),
                Value::Bool(false),
                date("2024-02-29"),
                ts("2024-02-29 00:00:00"),
                Value::Null
            ],
            vec![
                Value::Int(3),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null
            ],
        ]
    );

    // Overrides: the id keeps its leading zeros as text, amount becomes a float.
    let path = seed_file(
        "load",
        "codes.csv",
        b"id,amount,flag,day\n007,1.5,1,2024-01-31\n010,2,0,2024-02-01 12:00:00\n",
    );
    let column_types = overrides(&[
        ("id", "varchar(10)"),
        ("amount", "double precision"),
        ("flag", "BOOLEAN"),
        ("day", "timestamp"),
    ]);
    assert_eq!(load_seed(&mut w, None, "codes", &path, &column_types), Ok(2));
    let result = query(&mut w, "select * from codes order by id");
    let column_types: Vec<&ColumnType> = result.columns.iter().map(|c| &c.ty).collect();
    assert_eq!(column_types, vec![&Text, &Float, &Boolean, &Timestamp]);
    assert_eq!(
        result.rows,
        vec![
            vec![
                text("007"),
                Value::Float(1.5),
                Value::Bool(true),
                ts("2024-01-31 00:00:00")
            ],
            vec![
                text("010"),
                Value::Float(2.0),
                Value::Bool(false),
                ts("2024-02-01 12:00:00")
            ],
        ]
    );
    assert_eq!(infer_columns(&path, &[]).map(|c| c.len()), Ok(4));

    // Reloading replaces the table.
    let path = seed_file("load", "codes.csv", b"id\n1\n");
    assert_eq!(load_seed(&mut w, None, "codes", &path, &[]), Ok(1));
    assert_eq!(query(&mut w, "select * from codes").rows, vec![vec![Value::Int(1)]]);
}

#[test]
fn seeds_load_into_postgres_too() {
    let Ok(conn_str) = std::env::var("STRATA_TEST_PG") else {
        eprintln!("NOTICE: STRATA_TEST_PG not set; skipping PostgreSQL tests");
        return;
    };
    let mut w = match strata_warehouse::Postgres::connect(&conn_str) {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    };
    let path = seed_file(
        "pg",
        "pay.csv",
        b"id,amount,day,note\n1,12.50,2024-01-31,\"tab\there\"\n2,0.5,,back\\slash\n",
    );
    assert_eq!(load_seed(&mut w, Some("t_seed"), "pay", &path, &[]), Ok(2));
    let result = query(&mut w, "select * from t_seed.pay order by id");
    assert_eq!(
        result.rows,
        vec![
            vec![Value::Int(1), num("12.50"), date("2024-01-31"), text("tab\there")],
            vec![Value::Int(2), num("0.5"), Value::Null, text("back\\slash")],
        ]
    );
    execute(&mut w, "drop schema t_seed cascade");
}

#[test]
fn malformed_csv_errors_name_file_line_and_column() {
    // Too many fields on line 3.
    assert_eq!(
        infer_err(b"a,b\n1,2\n3,4,5\n", &[]),
        "malformed seed: the row has 3 fields but the header has 2; column 3 has no header (in seeds/bad.csv:3)"
    );
    // Too few fields on line 4, after a quoted field spanning two lines.
    assert_eq!(
        infer_err(b"a,b\n1,\"x\ny\"\n5\n", &[]),
        "malformed seed: the row has 1 fields but the header has 2; column 2 \"b\" is missing (in seeds/bad.csv:4)"
    );
    // Bad UTF-8 in a value and in the header.
    assert_eq!(
        infer_err(b"a,b\n1,ok\n2,caf\xe9\n", &[]),
        "malformed seed: column 2 \"b\" is not valid UTF-8 (in seeds/bad.csv:3)"
    );
    assert_eq!(
        infer_err(b"a,\xff\n1,2\n", &[]),
        "malformed seed: column 2 is not valid UTF-8 (in seeds/bad.csv:1)"
    );
    // A value that is not of the overridden type.
    assert_eq!(
        infer_err(b"id,amount\n1,2.5\n2,abc\n", &[("amount", "decimal(10,2)")]),
        "invalid seed value: \"abc\" in column 2 \"amount\" is not a valid decimal(10,2) (in seeds/bad.csv:3)"
    );
    assert_eq!(
        infer_err(b"id,day\n1,2024-02-30\n", &[("day", "date")]),
        "invalid seed value: \"2024-02-30\" in column 2 \"day\" is not a valid date (in seeds/bad.csv:2)"
    );
    assert_eq!(
        infer_err(b"id\n1.5\n", &[("id", "integer")]),
        "invalid seed value: \"1.5\" in column 1 \"id\" is not a valid integer (in seeds/bad.csv:2)"
    );
    assert_eq!(
        infer_err(b"id,ok\n1,maybe\n", &[("ok", "bool")]),
        "invalid seed value: \"maybe\" in column 2 \"ok\" is not a valid bool (in seeds/bad.csv:2)"
    );
    // An unknown type name.
    assert_eq!(
        infer_err(b"id,blob\n1,2\n", &[("blob", "bytea")]),
        "unknown seed column type: column \"blob\" has type \"bytea\" in column_types (in seeds/bad.csv)"
    );
    // No header at all.
    assert_eq!(
        infer_err(b"", &[]),
        "malformed seed: the file is empty, it needs a header row (in seeds/bad.csv)"
    );
    // Overrides for columns the seed does not have are ignored, as dbt does.
    assert!(infer_columns_from_reader("s.csv", &b"a\n1\n"[..], &overrides(&[("zz", "bytea")])).is_err());
    assert!(infer_columns_from_reader("s.csv", &b"a\n1\n"[..], &overrides(&[("zz", "text")])).is_ok());
}

#[test]
fn load_errors_name_the_file() {
    let mut w = match DuckDb::in_memory() {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    };
    let missing = Path::new("seeds/does_not_exist.csv");
    let err = load_seed(&mut w, None, "x", missing, &[]).err().map(|e| e.message);
    assert!(
        err.as_deref()
            .is_some_and(|m| m.starts_with("cannot read seed: ") && m.ends_with("(in seeds/does_not_exist.csv)")),
        "{err:?}"
    );

    let path = seed_file("errors", "ragged.csv", b"a,b\n1,2\n3\n");
    let err = load_seed(&mut w, None, "ragged", &path, &[]).err().map(|e| e.message);
    let expected = format!(
        "malformed seed: the row has 1 fields but the header has 2; column 2 \"b\" is missing (in {}:3)",
        path.display()
    );
    assert_eq!(err, Some(expected));
    // Nothing was created.
    assert!(w.query("select * from ragged").is_err());
}
