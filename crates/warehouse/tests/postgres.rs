//! The PostgreSQL warehouse against a real server: `STRATA_TEST_PG` holds its connection string
//! (`eval "$(scripts/postgres.sh)"` starts one). Without it these tests say so and pass.

mod common;

use common::*;
use strata_warehouse::{Column, ColumnType, Postgres, Value, Warehouse};

/// A connection in a schema of the test's own, so tests can run in parallel.
fn connect(schema: &str) -> Option<Postgres> {
    let Ok(conn_str) = std::env::var("STRATA_TEST_PG") else {
        eprintln!("NOTICE: STRATA_TEST_PG not set; skipping PostgreSQL tests");
        return None;
    };
    let mut w = match Postgres::connect(&conn_str) {
        Ok(w) => w,
        Err(e) => panic!("cannot connect to STRATA_TEST_PG ({conn_str}): {e}"),
    };
    execute(
        &mut w,
        &format!(
            "drop schema if exists {schema} cascade; create schema {schema}; set search_path = {schema}; set timezone = 'UTC'"
        ),
    );
    Some(w)
}

#[test]
fn maps_every_type_to_values_and_column_types() {
    let Some(mut w) = connect("t_types") else { return };
    assert_eq!(w.kind(), "postgres");
    let result = query(
        &mut w,
        "select true as b, 2::int2 as i2, 3::int4 as i4, -4::int8 as i8, 'pg_class'::regclass::oid as o,
                1.5::float4 as f4, 0.1::real as r4, 1/3::float8 as f8, 7::float8 as seven,
                12.50::numeric(10,2) as d2, -0.005::numeric as d3, 123456789012345678901234567890.12::numeric as big,
                10000::numeric as tenk, 'NaN'::numeric as nan,
                'héllo'::text as t, 'v'::varchar(5) as v, 'c'::char(3) as c, 'n'::name as nm,
                date '2024-02-29' as dt, date '1969-12-31' as dt_before, 'infinity'::date as dt_inf,
                timestamp '2024-02-29 12:34:56.789' as ts, timestamptz '2024-01-01 02:00:00+02' as tstz,
                '[1]'::jsonb as jb, '{\"a\": 1}'::json as js, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as u,
                null::int4 as n",
    );
    use ColumnType::*;
    let expected: Vec<(&str, ColumnType, Value)> = vec![
        ("b", Boolean, Value::Bool(true)),
        ("i2", Int32, Value::Int(2)),
        ("i4", Int32, Value::Int(3)),
        ("i8", Integer, Value::Int(-4)),
        ("o", Integer, Value::Int(1259)),
        ("f4", Float, Value::Float(1.5)),
        ("r4", Float, Value::Float(0.1)),
        ("f8", Float, Value::Float(1.0 / 3.0)),
        ("seven", Float, Value::Float(7.0)),
        ("d2", Numeric, num("12.50")),
        ("d3", Numeric, num("-0.005")),
        ("big", Numeric, num("123456789012345678901234567890.12")),
        ("tenk", Numeric, num("10000")),
        ("nan", Numeric, num("NaN")),
        ("t", Text, text("héllo")),
        ("v", Text, text("v")),
        ("c", Text, text("c  ")),
        ("nm", Text, text("n")),
        ("dt", Date, date("2024-02-29")),
        ("dt_before", Date, Value::Date(-1)),
        ("dt_inf", Date, text("infinity")),
        ("ts", Timestamp, ts("2024-02-29 12:34:56.789")),
        ("tstz", Timestamp, ts("2024-01-01 00:00:00")),
        ("jb", Other("jsonb".into()), text("[1]")),
        ("js", Other("json".into()), text("{\"a\": 1}")),
        ("u", Other("uuid".into()), text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        ("n", Int32, Value::Null),
    ];
    let columns: Vec<Column> = expected.iter().map(|(name, ty, _)| col(name, ty.clone())).collect();
    let values: Vec<Value> = expected.into_iter().map(|(_, _, v)| v).collect();
    assert_eq!(result.columns, columns);
    assert_eq!(result.rows, vec![values]);
}

#[test]
fn other_types_arrive_as_postgres_text() {
    let Some(mut w) = connect("t_other") else { return };
    execute(
        &mut w,
        "create type mood as enum ('sad', 'happy'); create domain posint as int4 check (value > 0)",
    );
    let sql = "select interval '1 day 02:00' as iv, array[1, 2] as arr, time '01:02:03' as tm, '\\x6162'::bytea as by,
                      'happy'::mood as m, 5::posint as p, int4range(1, 3) as rng, 7 as plain, 'x' as plain,
                      null::interval as nothing
               order by 1 -- a trailing comment;";
    let result = query(&mut w, sql);
    assert_eq!(
        result.columns,
        vec![
            col("iv", ColumnType::Other("interval".into())),
            col("arr", ColumnType::Other("int4[]".into())),
            col("tm", ColumnType::Other("time".into())),
            col("by", ColumnType::Other("bytea".into())),
            col("m", ColumnType::Text),
            col("p", ColumnType::Int32),
            col("rng", ColumnType::Other("int4range".into())),
            col("plain", ColumnType::Int32),
            col("plain", ColumnType::Text),
            col("nothing", ColumnType::Other("interval".into())),
        ]
    );
    assert_eq!(
        result.rows,
        vec![vec![
            text("1 day 02:00:00"),
            text("{1,2}"),
            text("01:02:03"),
            text("\\x6162"),
            text("happy"),
            Value::Int(5),
            text("[1,3)"),
            Value::Int(7),
            text("x"),
            Value::Null,
        ]]
    );

    // A statement that cannot be nested in a WITH runs over the simple query protocol.
    execute(
        &mut w,
        "prepare later as select interval '3 days' as iv, 2::int8 as n, date '2020-01-02' as d",
    );
    let result = query(&mut w, "execute later");
    assert_eq!(
        result.columns,
        vec![
            col("iv", ColumnType::Other("interval".into())),
            col("n", ColumnType::Integer),
            col("d", ColumnType::Date)
        ]
    );
    assert_eq!(
        result.rows,
        vec![vec![text("3 days"), Value::Int(2), date("2020-01-02")]]
    );
}

#[test]
fn zero_row_results_still_have_columns() {
    let Some(mut w) = connect("t_zero") else { return };
    let result = query(
        &mut w,
        "select 1::int4 as a, 'x'::text as b, interval '1 day' as c where false",
    );
    assert_eq!(
        result.columns,
        vec![
            col("a", ColumnType::Int32),
            col("b", ColumnType::Text),
            col("c", ColumnType::Other("interval".into()))
        ]
    );
    assert!(result.rows.is_empty());
}

#[test]
fn errors_carry_the_sqlstate() {
    let Some(mut w) = connect("t_errors") else { return };
    let err = w.query("select * from missing_table").err();
    assert_eq!(
        err.as_ref().map(|e| (e.message.as_str(), e.sqlstate.as_deref())),
        Some(("relation \"missing_table\" does not exist", Some("42P01")))
    );
    let err = w
        .execute("create table a (x int primary key); insert into a values (1), (1)")
        .err();
    let err = err.as_ref().map(|e| {
        (
            e.message.contains("DETAIL: Key (x)=(1) already exists."),
            e.sqlstate.as_deref(),
        )
    });
    assert_eq!(err, Some((true, Some("23505"))));
    assert_eq!(
        w.query("selec 1").err().and_then(|e| e.sqlstate),
        Some("42601".to_string())
    );
    assert_eq!(
        w.query("select 1/0").err().and_then(|e| e.sqlstate),
        Some("22012".to_string())
    );
    // Still usable after errors.
    execute(
        &mut w,
        "create table b (x int); insert into b values (1), (2); insert into b values (3)",
    );
    assert_eq!(
        query(&mut w, "select sum(x)::int8 as s from b").rows,
        vec![vec![Value::Int(6)]]
    );

    let bad = Postgres::connect("host=127.0.0.1 port=1 user=nobody connect_timeout=2").err();
    assert!(bad.is_some_and(|e| !e.message.is_empty()));
    if let Ok(conn_str) = std::env::var("STRATA_TEST_PG") {
        let wrong = conn_str.replace("password=postgres", "password=wrong");
        let err = Postgres::connect(&wrong).err().and_then(|e| e.sqlstate);
        assert_eq!(err.as_deref(), Some("28P01"));
    }
}

#[test]
fn streaming_stops_when_the_row_handler_fails() {
    let Some(mut w) = connect("t_stop") else { return };
    check_stop_on_error(&mut w, "select i from generate_series(1, 2000000) as i", 10);
}

#[test]
fn streams_large_results_row_by_row() {
    let Some(mut w) = connect("t_stream") else { return };
    let mut count = 0u64;
    let result = w.query_each(
        "select i, 'row ' || i as label from generate_series(1, 1000000) as i",
        &mut |_| {},
        &mut |_| {
            count += 1;
            Ok(())
        },
    );
    assert_eq!(result, Ok(()));
    assert_eq!(count, 1_000_000);
}

#[test]
fn loads_every_type_with_copy() {
    let Some(mut w) = connect("t_load") else { return };
    check_load_every_type(&mut w, None);
    check_load_every_type(&mut w, Some("Staging Schema"));
    execute(&mut w, "drop schema \"Staging Schema\" cascade");
}

#[test]
fn load_reports_values_of_the_wrong_type_with_their_sqlstate() {
    let Some(mut w) = connect("t_badload") else { return };
    let columns = vec![col("d", ColumnType::Date)];
    let mut rows = vec![vec![text("not a date")]].into_iter();
    let err = w.load_table(None, "dates", &columns, &mut rows).err();
    assert_eq!(err.and_then(|e| e.sqlstate).as_deref(), Some("22007"));
    // A view on a loaded table does not stop the next load (dbt drops with cascade).
    let mut rows = vec![vec![date("2020-01-01")]].into_iter();
    assert_eq!(w.load_table(None, "dates", &columns, &mut rows), Ok(1));
    execute(&mut w, "create view dates_view as select * from dates");
    let mut rows = vec![vec![date("2020-01-02")]].into_iter();
    assert_eq!(w.load_table(None, "dates", &columns, &mut rows), Ok(1));
}

#[test]
fn bulk_loads_rows_from_an_iterator() {
    let Some(mut w) = connect("t_bulk") else { return };
    let seconds = check_bulk_load(&mut w, 300_000);
    eprintln!("postgres: loaded 300,000 rows in {seconds:.2} s");
}
