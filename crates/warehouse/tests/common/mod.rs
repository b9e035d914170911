//! Helpers shared by the warehouse integration tests.
#![allow(dead_code)]

use strata_warehouse::{Column, ColumnType, Error, ResultSet, Value, Warehouse, parse_date, parse_timestamp};

pub fn query(w: &mut dyn Warehouse, sql: &str) -> ResultSet {
    match w.query(sql) {
        Ok(result) => result,
        Err(e) => panic!("query failed: {sql}\n{e}"),
    }
}

pub fn execute(w: &mut dyn Warehouse, sql: &str) {
    if let Err(e) = w.execute(sql) {
        panic!("execute failed: {sql}\n{e}");
    }
}

pub fn col(name: &str, ty: ColumnType) -> Column {
    Column::new(name, ty)
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

pub fn num(s: &str) -> Value {
    Value::Numeric(s.to_string())
}

pub fn date(s: &str) -> Value {
    Value::Date(parse_date(s).unwrap_or_else(|| panic!("bad date {s}")))
}

pub fn ts(s: &str) -> Value {
    Value::Timestamp(parse_timestamp(s).unwrap_or_else(|| panic!("bad timestamp {s}")))
}

/// Streams `select` of `n` rows and stops after `stop_after` with an error of its own.
pub fn check_stop_on_error(w: &mut dyn Warehouse, sql: &str, stop_after: usize) {
    let mut seen = 0;
    let mut columns_calls = 0;
    let result = w.query_each(sql, &mut |_| columns_calls += 1, &mut |_row| {
        seen += 1;
        if seen == stop_after {
            Err(Error::new("enough"))
        } else {
            Ok(())
        }
    });
    assert_eq!(result, Err(Error::new("enough")));
    assert_eq!(seen, stop_after);
    assert_eq!(columns_calls, 1);
    // The connection is still usable.
    assert_eq!(query(w, "select 41 + 1 as answer").rows, vec![vec![Value::Int(42)]]);
}

/// Loads one row of every column type plus a row of NULLs, and reads them back.
pub fn check_load_every_type(w: &mut dyn Warehouse, schema: Option<&str>) {
    let columns = vec![
        col("b", ColumnType::Boolean),
        col("i", ColumnType::Integer),
        col("f", ColumnType::Float),
        col("n", ColumnType::Numeric),
        col("Mixed Case \"t\"", ColumnType::Text),
        col("d", ColumnType::Date),
        col("ts", ColumnType::Timestamp),
    ];
    let tricky = "tab\there\nnew line \\N back\\slash\r, 'quote' \"dq\" é 😀";
    let rows = vec![
        vec![
            Value::Bool(true),
            Value::Int(i64::MIN),
            Value::Float(0.1),
            num("12.50"),
            text(tricky),
            date("2024-02-29"),
            ts("2024-02-29 23:59:59.000001"),
        ],
        vec![
            Value::Bool(false),
            Value::Int(i64::MAX),
            Value::Float(-1.5e300),
            num("-0.5"),
            text(""),
            date("1969-12-31"),
            ts("1900-01-01 00:00:00"),
        ],
        vec![Value::Null; 7],
    ];
    let mut iter = rows.clone().into_iter();
    let loaded = w.load_table(schema, "every_type", &columns, &mut iter);
    assert_eq!(loaded, Ok(3));
    let table = match schema {
        Some(s) => format!("\"{s}\".every_type"),
        None => "every_type".to_string(),
    };
    let result = query(w, &format!("select * from {table} order by i nulls last"));
    assert_eq!(result.columns, columns);
    let mut expected = rows;
    // Numeric columns keep their values exactly; DuckDB pads them to the column's scale.
    if w.kind() == "duckdb" {
        expected[0][3] = num("12.50");
        expected[1][3] = num("-0.50");
    }
    assert_eq!(result.rows, expected);

    // Loading again replaces the table.
    let mut again = vec![vec![Value::Null; 7]].into_iter();
    assert_eq!(w.load_table(schema, "every_type", &columns, &mut again), Ok(1));
    assert_eq!(
        query(w, &format!("select count(*) as n from {table}")).rows,
        vec![vec![Value::Int(1)]]
    );

    // A row of the wrong width fails and leaves the table as it was.
    let mut bad = vec![vec![Value::Null; 7], vec![Value::Int(1)]].into_iter();
    let err = w
        .load_table(schema, "every_type", &columns, &mut bad)
        .err()
        .map(|e| e.message);
    assert_eq!(
        err.as_deref()
            .map(|m| m.contains("row 2") && m.contains("has 1 values, expected 7")),
        Some(true),
        "{err:?}"
    );
    assert_eq!(
        query(w, &format!("select count(*) as n from {table}")).rows,
        vec![vec![Value::Int(1)]]
    );
}

/// Loads `n` generated rows from an iterator and checks aggregates; returns the seconds taken.
pub fn check_bulk_load(w: &mut dyn Warehouse, n: i64) -> f64 {
    let columns = vec![
        col("id", ColumnType::Integer),
        col("name", ColumnType::Text),
        col("amount", ColumnType::Float),
        col("day", ColumnType::Date),
    ];
    let mut rows = (0..n).map(|i| {
        vec![
            Value::Int(i),
            Value::Text(format!("customer {}", i % 1000)),
            Value::Float(i as f64 / 4.0),
            Value::Date((i % 3650) as i32),
        ]
    });
    let started = std::time::Instant::now();
    let loaded = w.load_table(None, "bulk", &columns, &mut rows);
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(loaded, Ok(n as u64));
    let result = query(
        w,
        "select count(*) as n, sum(id) as s, count(distinct name) as names, max(day) as last from bulk",
    );
    let sum = n * (n - 1) / 2;
    let sum = if w.kind() == "duckdb" {
        Value::Int(sum)
    } else {
        Value::Numeric(sum.to_string())
    };
    assert_eq!(
        result.rows,
        vec![vec![
            Value::Int(n),
            sum,
            Value::Int(1000.min(n)),
            Value::Date(3649.min(n as i32 - 1))
        ]]
    );
    seconds
}
