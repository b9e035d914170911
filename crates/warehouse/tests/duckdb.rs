//! The embedded DuckDB warehouse: value and type mapping, streaming, bulk loading.

mod common;

use common::*;
use strata_warehouse::{Column, ColumnType, DuckDb, Value, Warehouse};

fn db() -> DuckDb {
    match DuckDb::in_memory() {
        Ok(db) => db,
        Err(e) => panic!("cannot open DuckDB: {e}"),
    }
}

#[test]
fn maps_every_type_to_values_and_column_types() {
    let mut w = db();
    let result = query(
        &mut w,
        "select true as b, 1::tinyint as i1, 2::smallint as i2, 3::integer as i4, -4::bigint as i8,
                5::utinyint as u1, 6::usmallint as u2, 7::uinteger as u4, 8::ubigint as u8,
                18446744073709551615::ubigint as u8max, (-170141183460469231731687303715884105727)::hugeint as hmin,
                9::hugeint as h9, 340282366920938463463374607431768211455::uhugeint as uhmax,
                1.5::float as f4, 0.1::real as r4, 1/3 as f8, 7::double as seven,
                12.50::decimal(10,2) as d2, -0.005::decimal(4,3) as d3,
                123456789012345678901234567890.12::decimal(38,2) as d38, 42::decimal(38,0) as d38_0,
                'héllo' as t, date '2024-02-29' as dt, date '1969-12-31' as dt_before,
                timestamp '2024-02-29 12:34:56.789' as ts, '2024-01-01 00:00:01'::timestamp_s as ts_s,
                '2024-01-01 00:00:01.5'::timestamp_ms as ts_ms, '1969-12-31 23:59:59.999999999'::timestamp_ns as ts_ns,
                null::integer as n",
    );
    use ColumnType::*;
    let expected: Vec<(&str, ColumnType, Value)> = vec![
        ("b", Boolean, Value::Bool(true)),
        ("i1", Int32, Value::Int(1)),
        ("i2", Int32, Value::Int(2)),
        ("i4", Int32, Value::Int(3)),
        ("i8", Integer, Value::Int(-4)),
        ("u1", Int32, Value::Int(5)),
        ("u2", Int32, Value::Int(6)),
        ("u4", Integer, Value::Int(7)),
        ("u8", Numeric, Value::Int(8)),
        ("u8max", Numeric, num("18446744073709551615")),
        ("hmin", Numeric, num("-170141183460469231731687303715884105727")),
        ("h9", Numeric, Value::Int(9)),
        ("uhmax", Numeric, num("340282366920938463463374607431768211455")),
        ("f4", Float, Value::Float(1.5)),
        ("r4", Float, Value::Float(0.1)),
        ("f8", Float, Value::Float(1.0 / 3.0)),
        ("seven", Float, Value::Float(7.0)),
        ("d2", Numeric, num("12.50")),
        ("d3", Numeric, num("-0.005")),
        ("d38", Numeric, num("123456789012345678901234567890.12")),
        ("d38_0", Numeric, num("42")),
        ("t", Text, text("héllo")),
        ("dt", Date, date("2024-02-29")),
        ("dt_before", Date, Value::Date(-1)),
        ("ts", Timestamp, ts("2024-02-29 12:34:56.789")),
        ("ts_s", Timestamp, ts("2024-01-01 00:00:01")),
        ("ts_ms", Timestamp, ts("2024-01-01 00:00:01.5")),
        ("ts_ns", Timestamp, Value::Timestamp(-1)),
        ("n", Int32, Value::Null),
    ];
    let columns: Vec<Column> = expected.iter().map(|(name, ty, _)| col(name, ty.clone())).collect();
    let values: Vec<Value> = expected.into_iter().map(|(_, _, v)| v).collect();
    assert_eq!(result.columns, columns);
    assert_eq!(result.rows, vec![values]);
    let printed: Vec<String> = result.rows[0].iter().map(Value::to_string).collect();
    assert_eq!(printed[14], "0.1");
    assert_eq!(printed[16], "7");
    assert_eq!(printed[24], "2024-02-29 12:34:56.789");
    assert_eq!(printed[28], "NULL");
}

#[test]
fn other_types_arrive_as_duckdb_text() {
    let mut w = db();
    execute(&mut w, "create type mood as enum ('sad', 'happy')");
    let sql = "select interval 1 day as iv, [1, 2] as l, {'a': 1} as s, time '01:02:03' as tm,
                      'ab'::blob as bl, 'happy'::mood as m, 7 as plain, 'x' as plain, null::interval as nothing
               order by 1 -- a trailing comment;";
    let result = query(&mut w, sql);
    assert_eq!(
        result.columns,
        vec![
            col("iv", ColumnType::Other("INTERVAL".into())),
            col("l", ColumnType::Other("INTEGER[]".into())),
            col("s", ColumnType::Other("STRUCT(a INTEGER)".into())),
            col("tm", ColumnType::Other("TIME".into())),
            col("bl", ColumnType::Other("BLOB".into())),
            col("m", ColumnType::Text),
            col("plain", ColumnType::Int32),
            col("plain", ColumnType::Text),
            col("nothing", ColumnType::Other("INTERVAL".into())),
        ]
    );
    assert_eq!(
        result.rows,
        vec![vec![
            text("1 day"),
            text("[1, 2]"),
            text("{'a': 1}"),
            text("01:02:03"),
            text("ab"),
            text("happy"),
            Value::Int(7),
            text("x"),
            Value::Null,
        ]]
    );
}

#[test]
fn statements_before_the_last_run_once() {
    let mut w = db();
    execute(&mut w, "create table hits (n integer)");
    let result = query(
        &mut w,
        "insert into hits values (1); select count(*) as c, interval 1 day as iv, time '01:02:03' as t from hits",
    );
    assert_eq!(result.rows, vec![vec![Value::Int(1), text("1 day"), text("01:02:03")]]);
}

#[test]
fn zero_row_results_still_have_columns() {
    let mut w = db();
    let result = query(
        &mut w,
        "select 1::integer as a, 'x' as b, 1.5::decimal(3,1) as c where false",
    );
    assert_eq!(
        result.columns,
        vec![
            col("a", ColumnType::Int32),
            col("b", ColumnType::Text),
            col("c", ColumnType::Numeric)
        ]
    );
    assert!(result.rows.is_empty());
    let result = query(
        &mut w,
        "select interval 1 day as iv, date '2024-01-01' as d where false",
    );
    assert_eq!(
        result.columns,
        vec![
            col("iv", ColumnType::Other("INTERVAL".into())),
            col("d", ColumnType::Date)
        ]
    );
    assert!(result.rows.is_empty());
}

#[test]
fn statements_that_describe_cannot_nest_still_run() {
    let mut w = db();
    execute(&mut w, "create table t (a integer, b interval)");
    let result = query(&mut w, "pragma table_info('t')");
    assert_eq!(result.rows.len(), 2);
    assert_eq!(result.columns[1], col("name", ColumnType::Text));
    assert_eq!(result.rows[1][1], text("b"));
    assert_eq!(result.rows[1][2], text("INTERVAL"));
}

#[test]
fn execute_runs_several_statements_and_errors_carry_duckdb_messages() {
    let mut w = db();
    assert_eq!(w.kind(), "duckdb");
    execute(
        &mut w,
        "create table a (x integer); insert into a values (1), (2); insert into a values (3);",
    );
    assert_eq!(
        query(&mut w, "select sum(x)::bigint as s from a").rows,
        vec![vec![Value::Int(6)]]
    );

    let err = w.query("select * from missing_table").err();
    let err = err
        .as_ref()
        .map(|e| (e.message.contains("missing_table"), e.sqlstate.clone()));
    assert_eq!(err, Some((true, None)));
    assert!(w.execute("create table a (x integer)").is_err());
    // DuckDB runs the statements before the last one and returns the last one's rows.
    assert_eq!(
        query(&mut w, "insert into a values (4); select count(*) as n from a").rows,
        vec![vec![Value::Int(4)]]
    );
    // Nothing is downloaded: a function from an extension that is not built in fails.
    let err = w.query("select current_date as d").err().map(|e| e.message);
    assert!(err.as_deref().is_some_and(|m| m.contains("icu")), "{err:?}");
    assert!(w.query("selec 1").is_err());
    // Still usable after errors.
    assert_eq!(
        query(&mut w, "select count(*) as n from a").rows,
        vec![vec![Value::Int(4)]]
    );
}

#[test]
fn streaming_stops_when_the_row_handler_fails() {
    let mut w = db();
    check_stop_on_error(&mut w, "select range as i from range(100000000)", 10);
}

#[test]
fn streams_large_results_row_by_row() {
    let mut w = db();
    let mut count = 0u64;
    let mut sum = 0i64;
    let result = w.query_each("select range as i from range(3000000)", &mut |_| {}, &mut |row| {
        count += 1;
        if let Some(Value::Int(i)) = row.first() {
            sum += i;
        }
        Ok(())
    });
    assert_eq!(result, Ok(()));
    assert_eq!((count, sum), (3_000_000, 3_000_000 * 2_999_999 / 2));
}

#[test]
fn loads_every_type_and_replaces_tables() {
    let mut w = db();
    check_load_every_type(&mut w, None);
    check_load_every_type(&mut w, Some("Staging Schema"));
}

#[test]
fn numeric_columns_get_a_decimal_wide_enough_for_their_values() {
    let mut w = db();
    let columns = vec![col("n", ColumnType::Numeric)];
    let values = ["12.5", "-0.125", "+3", "1e3", "00042.10"];
    let mut rows =
        values
            .iter()
            .map(|v| vec![num(v)])
            .chain([vec![Value::Int(7)], vec![Value::Float(2.25)], vec![Value::Null]]);
    assert_eq!(w.load_table(None, "nums", &columns, &mut rows), Ok(8));
    let result = query(&mut w, "select typeof(n) as t, n from nums order by n nulls first");
    let typed: Vec<Value> = result.rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(typed[1], text("DECIMAL(7,3)"));
    let values: Vec<Value> = result.rows.iter().map(|r| r[1].clone()).collect();
    assert_eq!(
        values,
        vec![
            Value::Null,
            num("-0.125"),
            num("2.250"),
            num("3.000"),
            num("7.000"),
            num("12.500"),
            num("42.100"),
            num("1000.000")
        ]
    );

    let mut bad = vec![vec![text("twelve")]].into_iter();
    let err = w.load_table(None, "nums", &columns, &mut bad).err().map(|e| e.message);
    assert_eq!(
        err.as_deref(),
        Some("row 1 for \"nums\": twelve does not fit column n of type DECIMAL")
    );
    // The failed load left the table alone.
    assert_eq!(
        query(&mut w, "select count(*) as c from nums").rows,
        vec![vec![Value::Int(8)]]
    );

    let mut none = std::iter::empty();
    assert_eq!(w.load_table(None, "empty_nums", &columns, &mut none), Ok(0));
    let result = query(&mut w, "select * from empty_nums");
    assert_eq!(result.columns, columns);
}

#[test]
fn load_reports_values_of_the_wrong_type() {
    let mut w = db();
    let columns = vec![col("d", ColumnType::Date)];
    let mut rows = vec![vec![text("not a date")]].into_iter();
    let err = w.load_table(None, "dates", &columns, &mut rows).err();
    assert!(err.is_some_and(|e| e.message.contains("not a date")));
    let mut rows = std::iter::empty();
    assert!(w.load_table(None, "no_columns", &[], &mut rows).is_err());
}

#[test]
fn bulk_loads_a_million_rows_from_an_iterator() {
    let mut w = db();
    let seconds = check_bulk_load(&mut w, 1_000_000);
    eprintln!("duckdb: loaded 1,000,000 rows in {seconds:.2} s");
}

#[test]
fn clones_share_the_database() {
    let w = db();
    let mut a = match w.try_clone() {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };
    let mut w = w;
    execute(&mut w, "create table shared as select 1 as x");
    assert_eq!(query(&mut a, "select x from shared").rows, vec![vec![Value::Int(1)]]);
    let handle = std::thread::spawn(move || a.query("select x + 1 as y from shared").map(|r| r.rows));
    assert_eq!(handle.join().ok(), Some(Ok(vec![vec![Value::Int(2)]])));
}

#[test]
fn opens_database_files() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("duckdb-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("strata.duckdb");
    let _ = std::fs::remove_file(&path);
    {
        let mut w = match DuckDb::open(&path) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        execute(&mut w, "create table kept as select 'yes' as v");
    }
    let mut w = match DuckDb::open(&path) {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(query(&mut w, "select v from kept").rows, vec![vec![text("yes")]]);
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);

    let err = DuckDb::open(std::path::Path::new("/nonexistent-dir/x/y.duckdb")).err();
    assert!(err.is_some_and(|e| e.message.contains("/nonexistent-dir/x/y.duckdb")));
}

/// 10 million rows: about 4.5 s in a debug build, of which about 1 s goes to making the rows.
/// `cargo test -p strata-warehouse --test duckdb -- --ignored --nocapture` prints the figure.
#[test]
#[ignore = "takes a few seconds; run by hand"]
fn bulk_loads_ten_million_rows_from_an_iterator() {
    let mut w = db();
    let seconds = check_bulk_load(&mut w, 10_000_000);
    eprintln!("duckdb: loaded 10,000,000 rows in {seconds:.2} s");
}

/// `describe` (what the proxy's Describe uses) gives the columns running the query gives.
#[test]
fn describe_matches_the_columns_of_running_the_query() {
    let mut w = db();
    execute(&mut w, "create type feeling as enum ('meh', 'yay')");
    for sql in [
        "select true as b, 1::tinyint as i1, 3::integer as i4, -4::bigint as i8, 7::uinteger as u4,
                8::ubigint as u8, 9::hugeint as h9, 1.5::float as f4, 1/3 as f8, 12.50::decimal(10,2) as d2,
                'x' as t, date '2024-02-29' as dt, timestamp '2024-02-29 12:34:56' as ts,
                '2024-01-01 00:00:01'::timestamp_s as ts_s, 'yay'::feeling as m, interval 1 day as iv,
                [1, 2] as l, time '01:02:03' as tm",
        "select * from range(3) t(i) where i > 1",
    ] {
        let described = w.describe(sql).unwrap();
        assert_eq!(described, query(&mut w, sql).columns, "{sql}");
    }
    assert!(w.describe("select * from no_such_table").is_err());
}
