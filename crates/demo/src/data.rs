//! The shop's raw data: `raw.customers`, `raw.orders` and `raw.payments`.
//!
//! Everything is computed from the row index with integer arithmetic only (no floating point,
//! no clock, no OS randomness), so a given scale yields the same rows on every machine, any
//! order row can be computed on its own, and rows are produced lazily.
//!
//! How the shape comes about:
//! - Every day from [`FIRST_DAY`] to [`LAST_DAY`] has a weight: a growth trend (orders grow
//!   about 2.5× over the four years), a weekly pattern (Fridays and weekends are busiest), a
//!   yearly one (a November/December peak, a January dip) and some day-to-day noise. Order
//!   `i` sits at position `(i + ½) / n` of the cumulative weight, which gives its day, and,
//!   through a daytime-heavy hour profile, its time: order ids increase with time.
//! - A fifth of the customers signed up during 2020, before the data starts. Each later
//!   customer signs up 1–60 days before the day at their own position along the same curve,
//!   so the customer base grows with the orders. An order picks a customer among those who
//!   signed up before it: mostly uniformly (so earlier customers are the loyal ones),
//!   sometimes among the newest, whose first order it then is.
//! - Statuses depend on the order's age at the end of the data: the last days still have
//!   `placed` and `shipped` orders; older ones are `completed` or `returned`; about 4% of all
//!   orders are `cancelled` and those have no payment.
//! - An order's amount is the sum of 1–5 items from a price list (businesses buy in bulk),
//!   with an occasional 10% discount and a shipping fee under $50, in exact cents. It is paid
//!   by one payment, or split with one or two gift cards (about 1.11 payments per order).

use std::sync::Arc;

use strata_warehouse::{Column, ColumnType, Value};

use crate::Table;
use crate::civil::{civil_from_days, days_from_civil, weekday};
use crate::rng::Rng;

/// Orders per unit of scale: scale 1 is 10,000 orders, scale 1000 is 10 million.
pub const ORDERS_PER_SCALE: u64 = 10_000;
/// Customers per unit of scale (one for every ten orders).
pub const CUSTOMERS_PER_SCALE: u64 = 1_000;
/// The first day with orders, as `(year, month, day)`.
pub const FIRST_DAY: (i32, u32, u32) = (2021, 1, 1);
/// The last day with orders, as `(year, month, day)`; "today" for order statuses.
pub const LAST_DAY: (i32, u32, u32) = (2024, 12, 31);

const FIRST: i32 = days_from_civil(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2);
const LAST: i32 = days_from_civil(LAST_DAY.0, LAST_DAY.1, LAST_DAY.2);
const DAYS: usize = (LAST - FIRST + 1) as usize;

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

// Independent random streams, one per kind of row.
const CUSTOMER_STREAM: u64 = 0x0C05_7E0E_5000_0001;
const ORDER_STREAM: u64 = 0x0D0E_5000_0000_0002;
const DAY_STREAM: u64 = 0x0DA1_1900_0000_0003;

/// Countries (ISO codes, as the raw export has them: lower case) and their share of customers.
#[rustfmt::skip]
const COUNTRIES: [(&str, u32); 8] =
    [("us", 30), ("gb", 14), ("de", 13), ("fr", 10), ("ca", 10), ("es", 8), ("au", 8), ("nl", 7)];

/// Customer segments and their share of customers.
const SEGMENTS: [(&str, u32); 3] = [("consumer", 78), ("small_business", 17), ("enterprise", 5)];
const CONSUMER: usize = 0;
const ENTERPRISE: usize = 2;

#[rustfmt::skip]
const FIRST_NAMES: [&str; 40] = [
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "Lucas", "Mia", "Mateo",
    "Isabella", "Leo", "Charlotte", "Hugo", "Lena", "Jonas", "Clara", "Finn", "Ines", "Pablo", "Lucia", "Daniel",
    "Emily", "Jack", "Chloe", "Thomas", "Grace", "Arthur", "Zoe", "Louis", "Alice", "Gabriel", "Julia", "Max",
    "Sara", "Adam", "Nora", "Samuel",
];

#[rustfmt::skip]
const LAST_NAMES: [&str; 40] = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martin", "Bernard", "Dubois",
    "Muller", "Schmidt", "Schneider", "Fischer", "Weber", "Jansen", "DeVries", "Bakker", "Visser", "Lopez",
    "Martinez", "Sanchez", "Perez", "Taylor", "Wilson", "Evans", "Thomas", "Roberts", "Walker", "Wright",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Young", "King", "Scott", "Green",
];

const EMAIL_DOMAINS: [&str; 4] = ["example.com", "mail.example", "inbox.example", "post.example"];

/// Order statuses as stored in `raw.orders.status`.
pub const STATUSES: [&str; 5] = ["placed", "shipped", "completed", "returned", "cancelled"];
const PLACED: usize = 0;
const SHIPPED: usize = 1;
const COMPLETED: usize = 2;
const RETURNED: usize = 3;
const CANCELLED: usize = 4;

/// Payment methods as stored in `raw.payments.method`.
pub const PAYMENT_METHODS: [&str; 5] = ["credit_card", "paypal", "apple_pay", "bank_transfer", "gift_card"];
const BANK_TRANSFER: usize = 3;
const GIFT_CARD: usize = 4;

/// Item prices in cents, and how often each is bought.
const PRICES: [(u64, u32); 10] = [
    (499, 14),
    (950, 16),
    (1_200, 14),
    (1_875, 14),
    (2_499, 12),
    (3_900, 10),
    (5_990, 8),
    (8_900, 6),
    (12_900, 4),
    (24_900, 2),
];
const SHIPPING_FEE: u64 = 495;
const FREE_SHIPPING_FROM: u64 = 5_000;
const GIFT_CARD_VALUES: [u64; 4] = [1_000, 2_500, 5_000, 10_000];

/// Relative order volume by hour of the day (0..24).
const HOURS: [u64; 24] = [
    8, 5, 3, 2, 2, 3, 6, 12, 20, 28, 34, 38, 42, 40, 38, 37, 38, 42, 50, 56, 58, 50, 34, 18,
];
/// Relative order volume by weekday, Monday first.
const WEEKDAYS: [u64; 7] = [100, 96, 98, 102, 112, 122, 110];
/// Relative order volume by month, January first.
const MONTHS: [u64; 12] = [85, 88, 95, 97, 100, 98, 96, 95, 100, 105, 125, 135];

/// The cumulative order volume over the days; shared by the three tables' iterators.
struct Calendar {
    /// `cumulative[d]` is the total weight of the days before day `d`; `DAYS + 1` entries.
    cumulative: Vec<u64>,
    /// The cumulative hour profile, `HOURS.len() + 1` entries.
    hours: [u64; 25],
}

impl Calendar {
    fn new() -> Self {
        let mut cumulative = Vec::with_capacity(DAYS + 1);
        let mut total = 0u64;
        cumulative.push(0);
        for d in 0..DAYS {
            let day = FIRST + d as i32;
            let (_, month, _) = civil_from_days(day);
            // Growth from 1.0 to 2.5, slightly accelerating: 1000 + 900 t + 600 t².
            let d = d as u64;
            let last = (DAYS - 1) as u64;
            let growth = 1_000 + 900 * d / last + 600 * d * d / (last * last);
            let noise = Rng::new(DAY_STREAM, d).between(90, 110);
            let weight = growth * WEEKDAYS[weekday(day) as usize] * MONTHS[month as usize - 1] * noise;
            total += weight;
            cumulative.push(total);
        }
        let mut hours = [0u64; 25];
        for (h, w) in HOURS.iter().enumerate() {
            hours[h + 1] = hours[h] + w;
        }
        Calendar { cumulative, hours }
    }

    fn total(&self) -> u64 {
        self.cumulative[DAYS]
    }

    /// The day (index from [`FIRST`]) at a position `0..total` of the cumulative weight.
    fn day_index(&self, pos: u64) -> usize {
        self.cumulative.partition_point(|&c| c <= pos) - 1
    }

    /// The moment (microseconds since the epoch) at a position of the cumulative weight:
    /// its day, and within the day a time following the hour profile. Monotone in `pos`.
    fn moment(&self, pos: u64) -> (i32, i64) {
        let d = self.day_index(pos);
        let within = pos - self.cumulative[d];
        let weight = self.cumulative[d + 1] - self.cumulative[d];
        let day_total = self.hours[24];
        // Where in the day, in units of (hour weight × seconds).
        let x = (u128::from(within) * u128::from(day_total) * 3_600 / u128::from(weight)) as u64;
        let hour = self.hours.partition_point(|&c| c * 3_600 <= x) - 1;
        let second = (x - self.hours[hour] * 3_600) / HOURS[hour];
        let day = FIRST + d as i32;
        let seconds = i64::from(day) * SECONDS_PER_DAY + hour as i64 * 3_600 + second as i64;
        (day, seconds * MICROS_PER_SECOND)
    }
}

/// The generator for one scale.
pub(crate) struct Generator {
    calendar: Calendar,
    customers: u64,
    orders: u64,
}

/// What is known about a customer; names are indexes into the lists above.
struct Customer {
    first_name: usize,
    last_name: usize,
    domain: usize,
    country: usize,
    segment: usize,
    signed_up_at: i64,
}

/// What is known about an order, its payments included.
pub(crate) struct Order {
    pub id: u64,
    pub customer_id: u64,
    pub ordered_at: i64,
    pub status: usize,
    /// `(method, cents, paid_at)`; none for cancelled orders.
    pub payments: Vec<(usize, u64, i64)>,
}

impl Generator {
    pub(crate) fn new(scale: u32) -> Self {
        Generator {
            calendar: Calendar::new(),
            customers: CUSTOMERS_PER_SCALE * u64::from(scale),
            orders: ORDERS_PER_SCALE * u64::from(scale),
        }
    }

    /// Position of order `i` on the cumulative weight: `(i + ½) / orders` of the total.
    fn order_position(&self, i: u64) -> u64 {
        let total = u128::from(self.calendar.total());
        ((2 * u128::from(i) + 1) * total / (2 * u128::from(self.orders))) as u64
    }

    /// Customers who signed up before the first day (during the year before).
    fn existing_customers(&self) -> u64 {
        self.customers / 5
    }

    /// Position of new customer `k`'s reference day: `(k - existing) / (customers - existing)`
    /// of the total.
    fn customer_position(&self, k: u64) -> u64 {
        let existing = self.existing_customers();
        let new = u128::from(self.customers - existing);
        (u128::from(k - existing) * u128::from(self.calendar.total()) / new) as u64
    }

    /// How many customers (the first ones) signed up before the order at `pos`: everyone
    /// whose reference position is at or before it.
    fn customers_before(&self, pos: u64) -> u64 {
        let existing = self.existing_customers();
        let new = u128::from(self.customers - existing);
        let joined = (u128::from(pos) * new / u128::from(self.calendar.total())) as u64 + 1;
        (existing + joined).min(self.customers)
    }

    fn customer(&self, k: u64) -> Customer {
        let mut rng = Rng::new(CUSTOMER_STREAM, k);
        let country = rng.weighted(&COUNTRIES.map(|c| c.1));
        let segment = rng.weighted(&SEGMENTS.map(|s| s.1));
        let first_name = rng.below(FIRST_NAMES.len() as u64) as usize;
        let last_name = rng.below(LAST_NAMES.len() as u64) as usize;
        let domain = rng.below(EMAIL_DOMAINS.len() as u64) as usize;
        let day = if k < self.existing_customers() {
            FIRST - rng.between(1, 366) as i32
        } else {
            // Strictly before the reference day, so before any order the customer can place.
            let reference = FIRST + self.calendar.day_index(self.customer_position(k)) as i32;
            reference - rng.between(1, 60) as i32
        };
        let second = rng.below(SECONDS_PER_DAY as u64) as i64;
        let signed_up_at = (i64::from(day) * SECONDS_PER_DAY + second) * MICROS_PER_SECOND;
        Customer {
            first_name,
            last_name,
            domain,
            country,
            segment,
            signed_up_at,
        }
    }

    pub(crate) fn order(&self, i: u64) -> Order {
        let mut rng = Rng::new(ORDER_STREAM, i);
        let pos = self.order_position(i);
        let (day, ordered_at) = self.calendar.moment(pos);

        let eligible = self.customers_before(pos);
        let k = if rng.chance(300) {
            // One of the newest customers: the most recent 2% of those signed up.
            eligible - 1 - rng.below((eligible / 50).max(1))
        } else {
            rng.below(eligible)
        };
        let customer = self.customer(k);

        let age = LAST - day;
        let status = if rng.chance(40) {
            CANCELLED
        } else if age <= 1 {
            PLACED
        } else if age <= 6 {
            if rng.below(6) < (7 - age) as u64 {
                SHIPPED
            } else {
                COMPLETED
            }
        } else if rng.chance(55) {
            RETURNED
        } else {
            COMPLETED
        };

        // The basket.
        let items = rng.weighted(&[45, 28, 15, 8, 4]) as u64 + 1;
        let mut subtotal = 0;
        for _ in 0..items {
            let price = PRICES[rng.weighted(&PRICES.map(|p| p.1))].0;
            let quantity = match customer.segment {
                CONSUMER => 1 + u64::from(rng.chance(100)),
                ENTERPRISE => rng.between(2, 8),
                _ => rng.between(1, 4),
            };
            subtotal += price * quantity;
        }
        if rng.chance(100) {
            subtotal -= subtotal / 10;
        }
        let total = if subtotal < FREE_SHIPPING_FROM {
            subtotal + SHIPPING_FEE
        } else {
            subtotal
        };

        // The payments: gift cards first, then the main method for the rest.
        let mut payments = Vec::new();
        if status != CANCELLED {
            let gift_cards = match rng.below(1_000) {
                0..20 => 2,
                20..140 => 1,
                _ => 0,
            };
            let method_weights: [u32; 5] = match customer.segment {
                ENTERPRISE => [30, 5, 0, 60, 5],
                CONSUMER if COUNTRIES[customer.country].0 == "nl" || COUNTRIES[customer.country].0 == "de" => {
                    [35, 30, 10, 20, 5]
                }
                CONSUMER => [52, 22, 15, 5, 6],
                _ => [55, 15, 10, 17, 3],
            };
            let mut method = rng.weighted(&method_weights);
            if method == GIFT_CARD && total > GIFT_CARD_VALUES[GIFT_CARD_VALUES.len() - 1] {
                method = 0; // a gift card pays small orders only: credit card
            }
            let mut rest = total;
            let mut paid_at = ordered_at;
            for _ in 0..gift_cards {
                let value = GIFT_CARD_VALUES[rng.below(GIFT_CARD_VALUES.len() as u64) as usize];
                let cents = value.min(total / 3);
                paid_at += rng.between(5, 60) as i64 * MICROS_PER_SECOND;
                payments.push((GIFT_CARD, cents, paid_at));
                rest -= cents;
            }
            let delay = if method == BANK_TRANSFER {
                rng.between(3_600, 3 * 86_400)
            } else {
                rng.between(5, 600)
            };
            payments.push((method, rest, paid_at + delay as i64 * MICROS_PER_SECOND));
        }

        Order {
            id: i + 1,
            customer_id: k + 1,
            ordered_at,
            status,
            payments,
        }
    }

    fn customer_row(&self, k: u64) -> Vec<Value> {
        let c = self.customer(k);
        let id = k + 1;
        let (first, last) = (FIRST_NAMES[c.first_name], LAST_NAMES[c.last_name]);
        vec![
            Value::Int(id as i64),
            Value::Text(first.to_string()),
            Value::Text(last.to_string()),
            // Mixed case, as typed in; staging lower-cases it.
            Value::Text(format!("{first}.{last}{id}@{}", EMAIL_DOMAINS[c.domain])),
            Value::Text(COUNTRIES[c.country].0.to_string()),
            Value::Text(SEGMENTS[c.segment].0.to_string()),
            Value::Timestamp(c.signed_up_at),
        ]
    }

    fn order_row(&self, i: u64) -> Vec<Value> {
        let o = self.order(i);
        vec![
            Value::Int(o.id as i64),
            Value::Int(o.customer_id as i64),
            Value::Timestamp(o.ordered_at),
            Value::Text(STATUSES[o.status].to_string()),
        ]
    }
}

/// `12.50` from 1250 cents.
pub(crate) fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn column(name: &str, ty: ColumnType) -> Column {
    Column {
        name: name.to_string(),
        ty,
    }
}

/// The payments of orders `next..end`, numbered from 1 in order.
struct Payments {
    generator: Arc<Generator>,
    next_order: u64,
    next_id: u64,
    /// The current order's payment rows not yet returned, last first.
    pending: Vec<Vec<Value>>,
}

impl Iterator for Payments {
    type Item = Vec<Value>;

    fn next(&mut self) -> Option<Vec<Value>> {
        while self.pending.is_empty() {
            if self.next_order >= self.generator.orders {
                return None;
            }
            let order = self.generator.order(self.next_order);
            self.next_order += 1;
            for (method, cents, paid_at) in order.payments {
                self.pending.push(vec![
                    Value::Int(self.next_id as i64),
                    Value::Int(order.id as i64),
                    Value::Text(PAYMENT_METHODS[method].to_string()),
                    Value::Numeric(money(cents)),
                    Value::Timestamp(paid_at),
                ]);
                self.next_id += 1;
            }
            self.pending.reverse();
        }
        self.pending.pop()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let orders_left = usize::try_from(self.generator.orders - self.next_order).unwrap_or(usize::MAX);
        (
            self.pending.len(),
            orders_left
                .checked_mul(3)
                .and_then(|n| n.checked_add(self.pending.len())),
        )
    }
}

/// The raw tables for `scale`; see the crate documentation.
pub fn tables(scale: u32) -> Vec<Table> {
    let generator = Arc::new(Generator::new(scale));
    let g = Arc::clone(&generator);
    let customers = Table {
        schema: "raw",
        name: "customers",
        columns: vec![
            column("id", ColumnType::Integer),
            column("first_name", ColumnType::Text),
            column("last_name", ColumnType::Text),
            column("email", ColumnType::Text),
            column("country_code", ColumnType::Text),
            column("segment", ColumnType::Text),
            column("signed_up_at", ColumnType::Timestamp),
        ],
        rows: Box::new((0..generator.customers).map(move |k| g.customer_row(k))),
    };
    let g = Arc::clone(&generator);
    let orders = Table {
        schema: "raw",
        name: "orders",
        columns: vec![
            column("id", ColumnType::Integer),
            column("user_id", ColumnType::Integer),
            column("ordered_at", ColumnType::Timestamp),
            column("status", ColumnType::Text),
        ],
        rows: Box::new((0..generator.orders).map(move |i| g.order_row(i))),
    };
    let payments = Table {
        schema: "raw",
        name: "payments",
        columns: vec![
            column("id", ColumnType::Integer),
            column("order_id", ColumnType::Integer),
            column("method", ColumnType::Text),
            column("amount", ColumnType::Numeric),
            column("paid_at", ColumnType::Timestamp),
        ],
        rows: Box::new(Payments {
            generator,
            next_order: 0,
            next_id: 1,
            pending: Vec::new(),
        }),
    };
    vec![customers, orders, payments]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_covers_every_day_and_is_monotone() {
        let c = Calendar::new();
        assert_eq!(DAYS, 1461);
        assert!(c.cumulative.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(c.day_index(0), 0);
        assert_eq!(c.day_index(c.total() - 1), DAYS - 1);
        let mut previous = i64::MIN;
        for step in 0..10_000u64 {
            let pos = c.total() / 10_000 * step;
            let (day, at) = c.moment(pos);
            assert!(at >= previous, "moment must not go backwards");
            assert_eq!(at.div_euclid(SECONDS_PER_DAY * MICROS_PER_SECOND), i64::from(day));
            previous = at;
        }
    }

    #[test]
    fn money_has_two_decimals() {
        assert_eq!(money(0), "0.00");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(1250), "12.50");
        assert_eq!(money(123_456), "1234.56");
    }

    #[test]
    fn payments_add_up_to_a_plausible_total() {
        let g = Generator::new(1);
        for i in 0..g.orders {
            let o = g.order(i);
            let total: u64 = o.payments.iter().map(|p| p.1).sum();
            if o.status == CANCELLED {
                assert!(o.payments.is_empty());
            } else {
                assert!((1..=3).contains(&o.payments.len()));
                assert!(o.payments.iter().all(|p| p.1 > 0 && p.2 > o.ordered_at));
                assert!(total >= 499, "order {} totals {total} cents", o.id);
            }
        }
    }
}
