//! The generated raw data: deterministic, linear in the scale, consistent, lazy.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use strata_demo::{
    CUSTOMERS_PER_SCALE, ORDERS_PER_SCALE, PAYMENT_METHODS, STATUSES, Table, days_from_civil, load, tables,
};
use strata_warehouse::{Column, ColumnType, Error, Value, Warehouse};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// FNV-1a over an unambiguous encoding of the values.
fn hash_rows(rows: impl Iterator<Item = Vec<Value>>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for row in rows {
        eat(&[0xFF, row.len() as u8]);
        for v in row {
            match v {
                Value::Null => eat(&[0]),
                Value::Bool(b) => eat(&[1, u8::from(b)]),
                Value::Int(i) => {
                    eat(&[2]);
                    eat(&i.to_le_bytes());
                }
                Value::Float(f) => {
                    eat(&[3]);
                    eat(&f.to_bits().to_le_bytes());
                }
                Value::Numeric(s) | Value::Text(s) => {
                    eat(&[4]);
                    eat(&(s.len() as u64).to_le_bytes());
                    eat(s.as_bytes());
                }
                Value::Date(d) => {
                    eat(&[5]);
                    eat(&d.to_le_bytes());
                }
                Value::Timestamp(t) => {
                    eat(&[6]);
                    eat(&t.to_le_bytes());
                }
            }
        }
    }
    h
}

fn take(scale: u32, table: &str) -> Table {
    tables(scale).into_iter().find(|t| t.name == table).unwrap()
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn text(v: &Value) -> &str {
    match v {
        Value::Text(s) => s,
        other => panic!("expected text, got {other:?}"),
    }
}

fn timestamp(v: &Value) -> i64 {
    match v {
        Value::Timestamp(t) => *t,
        other => panic!("expected a timestamp, got {other:?}"),
    }
}

fn cents(v: &Value) -> i64 {
    let Value::Numeric(s) = v else {
        panic!("expected a numeric, got {v:?}")
    };
    let (units, hundredths) = s.split_once('.').unwrap_or_else(|| panic!("{s} has a decimal point"));
    assert!(
        hundredths.len() == 2 && units.bytes().chain(hundredths.bytes()).all(|b| b.is_ascii_digit()),
        "{s}"
    );
    assert!(units == "0" || !units.starts_with('0'), "{s}");
    units.parse::<i64>().unwrap() * 100 + hundredths.parse::<i64>().unwrap()
}

/// The three tables of a scale, fully generated.
struct Data {
    customers: Vec<Vec<Value>>,
    orders: Vec<Vec<Value>>,
    payments: Vec<Vec<Value>>,
}

fn generate(scale: u32) -> Data {
    let mut t = tables(scale).into_iter();
    let mut next = |name: &str| {
        let table = t.next().unwrap();
        assert_eq!((table.schema, table.name), ("raw", name));
        let width = table.columns.len();
        let rows: Vec<_> = table.rows.collect();
        assert!(
            rows.iter().all(|r| r.len() == width),
            "every row of {name} has {width} values"
        );
        rows
    };
    Data {
        customers: next("customers"),
        orders: next("orders"),
        payments: next("payments"),
    }
}

#[test]
fn tables_and_columns() {
    let t = tables(1);
    let names: Vec<_> = t.iter().map(|t| format!("{}.{}", t.schema, t.name)).collect();
    assert_eq!(names, ["raw.customers", "raw.orders", "raw.payments"]);
    let col = |name: &str, ty: ColumnType| Column {
        name: name.to_string(),
        ty,
    };
    assert_eq!(
        t[1].columns,
        [
            col("id", ColumnType::Integer),
            col("user_id", ColumnType::Integer),
            col("ordered_at", ColumnType::Timestamp),
            col("status", ColumnType::Text),
        ]
    );
    assert_eq!(t[2].columns[3], col("amount", ColumnType::Numeric));
    assert!(format!("{:?}", t[0]).contains("customers"));
}

#[test]
fn deterministic() {
    for table in ["customers", "orders", "payments"] {
        let a = hash_rows(take(1, table).rows.take(3_000));
        let b = hash_rows(take(1, table).rows.take(3_000));
        assert_eq!(a, b, "{table}");
        assert_ne!(
            a,
            hash_rows(take(2, table).rows.take(3_000)),
            "{table}: another scale, other rows"
        );
    }
    // Whole tables, twice.
    let (a, b) = (generate(1), generate(1));
    assert!(a.customers == b.customers && a.orders == b.orders && a.payments == b.payments);
}

/// Pins the data: the demo's numbers (in docs, screenshots, benchmarks) change only on purpose.
/// If you changed the generator deliberately, update these values.
#[test]
fn golden() {
    let hashes: Vec<u64> = tables(1).into_iter().map(|t| hash_rows(t.rows.take(1_000))).collect();
    assert_eq!(
        hashes, GOLDEN,
        "first 1,000 rows of customers, orders, payments at scale 1"
    );
    let data = generate(1);
    assert_eq!(data.payments.len(), GOLDEN_PAYMENTS_SCALE_1);
    let total: i64 = data.payments.iter().map(|p| cents(&p[3])).sum();
    assert_eq!(total, GOLDEN_REVENUE_CENTS_SCALE_1);
}

const GOLDEN: [u64; 3] = [
    18_057_135_509_719_868_453,
    947_065_762_781_832_273,
    12_369_045_538_338_441_537,
];
const GOLDEN_PAYMENTS_SCALE_1: usize = 11_130;
const GOLDEN_REVENUE_CENTS_SCALE_1: i64 = 100_725_261;

#[test]
fn row_counts_scale_linearly() {
    let mut payments = Vec::new();
    for scale in [1u32, 2, 3] {
        let d = generate(scale);
        assert_eq!(d.customers.len() as u64, CUSTOMERS_PER_SCALE * u64::from(scale));
        assert_eq!(d.orders.len() as u64, ORDERS_PER_SCALE * u64::from(scale));
        let per_order = d.payments.len() as f64 / d.orders.len() as f64;
        assert!(
            (1.08..1.14).contains(&per_order),
            "scale {scale}: {per_order} payments per order"
        );
        payments.push(d.payments.len() as f64);
    }
    assert!((payments[1] / payments[0] - 2.0).abs() < 0.03, "{payments:?}");
    assert!((payments[2] / payments[0] - 3.0).abs() < 0.045, "{payments:?}");
    assert_eq!(
        generate(0).orders.len() + generate(0).customers.len() + generate(0).payments.len(),
        0
    );
}

#[test]
fn keys_and_foreign_keys_hold() {
    let d = generate(2);
    // Dense, increasing ids from 1.
    for (name, rows) in [
        ("customers", &d.customers),
        ("orders", &d.orders),
        ("payments", &d.payments),
    ] {
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(int(&row[0]), i as i64 + 1, "{name} ids are 1..=n");
        }
    }
    let customers = d.customers.len() as i64;
    let orders = d.orders.len() as i64;
    for o in &d.orders {
        assert!(
            (1..=customers).contains(&int(&o[1])),
            "order {} has an existing customer",
            int(&o[0])
        );
    }
    for p in &d.payments {
        assert!(
            (1..=orders).contains(&int(&p[1])),
            "payment {} pays an existing order",
            int(&p[0])
        );
    }
    // Payments come in order of their orders.
    assert!(d.payments.windows(2).all(|w| int(&w[0][1]) <= int(&w[1][1])));
}

#[test]
fn dates_fall_in_range_and_follow_each_other() {
    let d = generate(1);
    let first = i64::from(days_from_civil(2021, 1, 1)) * MICROS_PER_DAY;
    let end = i64::from(days_from_civil(2025, 1, 1)) * MICROS_PER_DAY;
    let signed_up: Vec<i64> = d.customers.iter().map(|c| timestamp(&c[6])).collect();
    let mut ordered_at = HashMap::new();
    let mut previous = i64::MIN;
    let mut first_order: HashMap<i64, i64> = HashMap::new();
    for o in &d.orders {
        let at = timestamp(&o[2]);
        assert!((first..end).contains(&at), "order {} at {at}", int(&o[0]));
        assert!(at >= previous, "order ids increase with time");
        previous = at;
        let customer = int(&o[1]);
        assert!(
            signed_up[customer as usize - 1] < at,
            "customer {customer} signed up before ordering"
        );
        first_order.entry(customer).or_insert(at);
        ordered_at.insert(int(&o[0]), at);
    }
    assert_eq!(
        timestamp(&d.orders[0][2]) / MICROS_PER_DAY,
        first / MICROS_PER_DAY,
        "the first day has orders"
    );
    assert_eq!(
        previous / MICROS_PER_DAY,
        end / MICROS_PER_DAY - 1,
        "the last day has orders"
    );
    // A fifth of the customers signed up during the year before the first orders, and a few
    // of the first new ones too.
    let before = signed_up.iter().filter(|&&at| at < first).count();
    assert!(
        (d.customers.len() / 5..d.customers.len() / 4).contains(&before),
        "{before}"
    );
    assert!(*signed_up.iter().min().unwrap() >= first - 366 * MICROS_PER_DAY);
    for p in &d.payments {
        let order_at = ordered_at[&int(&p[1])];
        let paid_at = timestamp(&p[4]);
        assert!(
            paid_at > order_at && paid_at < order_at + 4 * MICROS_PER_DAY,
            "payment {}",
            int(&p[0])
        );
    }
    // Most customers order at least once, not all.
    let ordering = first_order.len() as f64 / d.customers.len() as f64;
    assert!((0.75..1.0).contains(&ordering), "{ordering} of customers ordered");
}

#[test]
fn the_data_looks_like_a_shop() {
    let d = generate(3);
    let mut statuses = BTreeMap::new();
    let mut per_year = BTreeMap::new();
    let mut per_weekday = [0u32; 7];
    let mut per_month = [0u32; 12];
    let mut status_of = HashMap::new();
    for o in &d.orders {
        let status = text(&o[3]).to_string();
        *statuses.entry(status.clone()).or_insert(0u32) += 1;
        status_of.insert(int(&o[0]), status);
        let day = (timestamp(&o[2]) / MICROS_PER_DAY) as i32;
        let (y, m, _) = strata_demo::civil_from_days(day);
        *per_year.entry(y).or_insert(0u32) += 1;
        per_weekday[(day + 3).rem_euclid(7) as usize] += 1;
        per_month[m as usize - 1] += 1;
    }
    assert_eq!(statuses.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut s = STATUSES.to_vec();
        s.sort();
        s
    });
    let share = |s: &str| f64::from(statuses[s]) / d.orders.len() as f64;
    assert!(
        share("completed") > 0.8 && (0.02..0.07).contains(&share("cancelled")),
        "{statuses:?}"
    );
    assert!(
        per_year[&2024] as f64 > 1.8 * per_year[&2021] as f64,
        "growth: {per_year:?}"
    );
    assert!(
        per_year[&2021] < per_year[&2022] && per_year[&2022] < per_year[&2023],
        "{per_year:?}"
    );
    assert!(
        per_weekday[5] as f64 > 1.15 * per_weekday[1] as f64,
        "Saturdays beat Tuesdays: {per_weekday:?}"
    );
    assert!(
        per_month[11] as f64 > 1.3 * per_month[0] as f64,
        "December beats January: {per_month:?}"
    );

    let countries: std::collections::BTreeSet<&str> = d.customers.iter().map(|c| text(&c[4])).collect();
    assert_eq!(countries.len(), 8, "{countries:?}");
    assert!(
        countries
            .iter()
            .all(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_lowercase()))
    );
    let segments: std::collections::BTreeSet<&str> = d.customers.iter().map(|c| text(&c[5])).collect();
    assert_eq!(
        segments.into_iter().collect::<Vec<_>>(),
        ["consumer", "enterprise", "small_business"]
    );
    assert!(d.customers.iter().all(|c| text(&c[3]).contains('@')));

    let mut methods = std::collections::BTreeSet::new();
    let mut paid: HashMap<i64, u32> = HashMap::new();
    for p in &d.payments {
        methods.insert(text(&p[2]));
        assert!(cents(&p[3]) > 0, "payment {} is positive", int(&p[0]));
        *paid.entry(int(&p[1])).or_default() += 1;
    }
    assert_eq!(methods.len(), PAYMENT_METHODS.len());
    for (id, status) in &status_of {
        let n = paid.get(id).copied().unwrap_or(0);
        if status == "cancelled" {
            assert_eq!(n, 0, "cancelled order {id} has no payment");
        } else {
            assert!((1..=3).contains(&n), "order {id} has {n} payments");
        }
    }
    assert!(
        paid.values().any(|&n| n == 2) && paid.values().any(|&n| n == 3),
        "some orders are split"
    );
}

#[test]
fn generation_is_lazy() {
    let start = Instant::now();
    for scale in [1_000, u32::MAX] {
        for table in tables(scale) {
            let rows: Vec<_> = table.rows.take(10).collect();
            assert_eq!(rows.len(), 10);
        }
    }
    // Ten million orders would take far longer than this even in a release build.
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    // Scale 1000 is ten million orders: the last one is as cheap as the first.
    let t = take(1_000, "orders");
    assert_eq!(t.rows.size_hint(), (10_000_000, Some(10_000_000)));
}

/// Counts what is loaded instead of loading it (the real warehouses are tested in their crate).
#[derive(Default)]
struct Counting {
    statements: Vec<String>,
    loaded: Vec<(Option<String>, String, usize, u64)>,
}

impl Warehouse for Counting {
    fn kind(&self) -> &'static str {
        "duckdb"
    }

    fn execute(&mut self, sql: &str) -> Result<(), Error> {
        self.statements.push(sql.to_string());
        Ok(())
    }

    fn query_each(
        &mut self,
        _sql: &str,
        _on_columns: &mut dyn FnMut(&[Column]),
        _on_row: &mut dyn FnMut(Vec<Value>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        Err(Error {
            message: "not supported".into(),
            sqlstate: None,
        })
    }

    fn describe(&mut self, _sql: &str) -> Result<Vec<Column>, Error> {
        Err(Error::new("not supported"))
    }

    fn load_table(
        &mut self,
        schema: Option<&str>,
        table: &str,
        columns: &[Column],
        rows: &mut dyn Iterator<Item = Vec<Value>>,
    ) -> Result<u64, Error> {
        let mut n = 0;
        for row in rows {
            assert_eq!(row.len(), columns.len());
            n += 1;
        }
        self.loaded
            .push((schema.map(str::to_string), table.to_string(), columns.len(), n));
        Ok(n)
    }
}

#[test]
fn load_loads_every_table() {
    let mut w = Counting::default();
    let stats = load(&mut w, 2).unwrap();
    assert!(
        w.statements.is_empty(),
        "load_table creates the schema itself: {:?}",
        w.statements
    );
    let raw = Some("raw".to_string());
    assert_eq!(w.loaded[0], (raw.clone(), "customers".into(), 7, 2_000));
    assert_eq!(w.loaded[1], (raw.clone(), "orders".into(), 4, 20_000));
    assert_eq!(
        (w.loaded[2].0.clone(), w.loaded[2].1.as_str(), w.loaded[2].2),
        (raw, "payments", 5)
    );
    let names: Vec<_> = stats.tables.iter().map(|t| (t.schema, t.name, t.rows)).collect();
    assert_eq!(
        names,
        [
            ("raw", "customers", 2_000),
            ("raw", "orders", 20_000),
            ("raw", "payments", w.loaded[2].3)
        ]
    );
    assert_eq!(stats.rows(), 22_000 + w.loaded[2].3);
}

#[test]
fn load_reports_warehouse_errors() {
    struct Failing;
    impl Warehouse for Failing {
        fn kind(&self) -> &'static str {
            "postgres"
        }
        fn execute(&mut self, _sql: &str) -> Result<(), Error> {
            unreachable!()
        }
        fn query_each(
            &mut self,
            _sql: &str,
            _on_columns: &mut dyn FnMut(&[Column]),
            _on_row: &mut dyn FnMut(Vec<Value>) -> Result<(), Error>,
        ) -> Result<(), Error> {
            unreachable!()
        }
        fn describe(&mut self, _sql: &str) -> Result<Vec<Column>, Error> {
            unreachable!()
        }
        fn load_table(
            &mut self,
            _schema: Option<&str>,
            _table: &str,
            _columns: &[Column],
            _rows: &mut dyn Iterator<Item = Vec<Value>>,
        ) -> Result<u64, Error> {
            Err(Error {
                message: "permission denied for schema raw".into(),
                sqlstate: Some("42501".into()),
            })
        }
    }
    let err = load(&mut Failing, 1).unwrap_err();
    assert_eq!(err.sqlstate.as_deref(), Some("42501"));
}
