//! Strata's zero-configuration demo: a dbt project for a shop (`shop`) and its raw data.
//!
//! - [`write_project`] writes the dbt project: sources over the `raw` schema, staging views,
//!   `customers` and `orders` marts, legacy-spec metrics on `orders` and a dashboard exposure.
//!   The files are also available in memory as [`PROJECT_FILES`].
//! - [`tables`] generates the raw tables `raw.customers`, `raw.orders` and `raw.payments`
//!   lazily and deterministically; [`load`] loads them into a [`Warehouse`].
//!
//! Scale: scale 1 is [`ORDERS_PER_SCALE`] (10,000) orders and [`CUSTOMERS_PER_SCALE`] (1,000)
//! customers, with about 1.11 payments per order; both grow linearly, so scale 1000 is 10
//! million orders. Orders span [`FIRST_DAY`]..=[`LAST_DAY`].

mod civil;
mod data;
mod rng;

use std::path::Path;
use std::time::{Duration, Instant};

use strata_warehouse::{Column, Error, Value, Warehouse};

pub use civil::{civil_from_days, days_from_civil, format_date};
pub use data::{CUSTOMERS_PER_SCALE, FIRST_DAY, LAST_DAY, ORDERS_PER_SCALE, PAYMENT_METHODS, STATUSES, tables};

/// The dbt project's name.
pub const PROJECT_NAME: &str = "shop";

/// The files of the demo dbt project: path relative to the project folder, and content.
pub const PROJECT_FILES: &[(&str, &str)] = &[
    ("README.md", include_str!("../project/README.md")),
    ("dbt_project.yml", include_str!("../project/dbt_project.yml")),
    (
        "models/staging/sources.yml",
        include_str!("../project/models/staging/sources.yml"),
    ),
    (
        "models/staging/schema.yml",
        include_str!("../project/models/staging/schema.yml"),
    ),
    (
        "models/staging/stg_customers.sql",
        include_str!("../project/models/staging/stg_customers.sql"),
    ),
    (
        "models/staging/stg_orders.sql",
        include_str!("../project/models/staging/stg_orders.sql"),
    ),
    (
        "models/staging/stg_payments.sql",
        include_str!("../project/models/staging/stg_payments.sql"),
    ),
    (
        "models/marts/customers.sql",
        include_str!("../project/models/marts/customers.sql"),
    ),
    (
        "models/marts/orders.sql",
        include_str!("../project/models/marts/orders.sql"),
    ),
    (
        "models/marts/schema.yml",
        include_str!("../project/models/marts/schema.yml"),
    ),
    (
        "models/marts/metrics.yml",
        include_str!("../project/models/marts/metrics.yml"),
    ),
    (
        "models/marts/exposures.yml",
        include_str!("../project/models/marts/exposures.yml"),
    ),
];

/// Writes the demo dbt project into `dir` (created if needed), overwriting its files.
pub fn write_project(dir: &Path) -> std::io::Result<()> {
    for (rel, content) in PROJECT_FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, content)?;
    }
    Ok(())
}

/// A raw table to load: its columns and its rows, generated lazily.
pub struct Table {
    pub schema: &'static str,
    pub name: &'static str,
    pub columns: Vec<Column>,
    pub rows: Box<dyn Iterator<Item = Vec<Value>> + Send>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("schema", &self.schema)
            .field("name", &self.name)
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

/// How many rows [`load`] loaded into one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedTable {
    pub schema: &'static str,
    pub name: &'static str,
    pub rows: u64,
}

/// What [`load`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadStats {
    /// In load order: customers, orders, payments.
    pub tables: Vec<LoadedTable>,
    pub elapsed: Duration,
}

impl LoadStats {
    /// Rows loaded over all tables.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// (Re)creates and loads the raw tables for `scale`, streaming their rows into
/// [`Warehouse::load_table`] (which creates the `raw` schema when needed).
pub fn load(warehouse: &mut dyn Warehouse, scale: u32) -> Result<LoadStats, Error> {
    let start = Instant::now();
    let mut loaded = Vec::new();
    for mut table in tables(scale) {
        let rows = warehouse.load_table(Some(table.schema), table.name, &table.columns, &mut table.rows)?;
        loaded.push(LoadedTable {
            schema: table.schema,
            name: table.name,
            rows,
        });
    }
    Ok(LoadStats {
        tables: loaded,
        elapsed: start.elapsed(),
    })
}
