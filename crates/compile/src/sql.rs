//! Writes a [`Plan`] as warehouse SQL: one named CTE per step, in the order a reader
//! would follow — aggregate each group, join the groups, fill the date spine, compute
//! metrics and derived metrics, then secondary calculations.

use crate::derived::derived_sql;
use crate::dialect::Dialect;
use crate::error::CompileError;
use crate::plan::{CalendarSpec, Group, Plan};
use crate::query::{Calculation, Comparison};
use std::fmt::Write;
use strata_manifest::{CalculationMethod, Metric};

/// The default calendar's span, as in dbt_metrics.
const DEFAULT_CALENDAR_START: &str = "1990-01-01";
const DEFAULT_CALENDAR_END: &str = "2030-01-01";

pub(crate) struct SqlWriter<'a> {
    pub plan: &'a Plan<'a>,
    pub dialect: &'a dyn Dialect,
    pub calendar: &'a CalendarSpec,
    /// The relation of each group's model, in group order.
    pub relations: Vec<String>,
}

/// An identifier as written in SQL: bare when it is a plain lower-case name, else quoted.
pub fn ident(dialect: &dyn Dialect, name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    if plain { name.to_string() } else { dialect.quote(name) }
}

/// Words that cannot stand bare as column names in the dialects Strata writes.
const RESERVED: &[&str] = &[
    "all",
    "and",
    "any",
    "as",
    "asc",
    "between",
    "by",
    "case",
    "cast",
    "check",
    "column",
    "create",
    "cross",
    "current_date",
    "date",
    "default",
    "desc",
    "distinct",
    "else",
    "end",
    "except",
    "false",
    "from",
    "full",
    "group",
    "having",
    "in",
    "inner",
    "intersect",
    "interval",
    "is",
    "join",
    "left",
    "like",
    "limit",
    "not",
    "null",
    "offset",
    "on",
    "or",
    "order",
    "outer",
    "right",
    "select",
    "table",
    "then",
    "time",
    "timestamp",
    "to",
    "true",
    "union",
    "user",
    "using",
    "when",
    "where",
    "window",
    "with",
];

impl SqlWriter<'_> {
    fn id(&self, name: &str) -> String {
        ident(self.dialect, name)
    }

    fn date_column(&self) -> Option<String> {
        self.plan.grain.map(|g| format!("date_{g}"))
    }

    /// The key columns every step is grouped and joined on, in output order.
    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.date_column().into_iter().collect();
        keys.extend(self.plan.periods.iter().map(|p| format!("date_{p}")));
        keys.extend(self.plan.dimensions.iter().map(|d| self.id(d)));
        keys.extend(self.plan.calendar_dimensions.iter().map(|d| self.id(d)));
        keys
    }

    pub fn write(&self) -> Result<String, CompileError> {
        let mut ctes: Vec<(String, String)> = Vec::new();
        if self.plan.needs_calendar() {
            ctes.push(("calendar".into(), self.calendar_cte()));
        }
        for (group, relation) in self.plan.groups.iter().zip(&self.relations) {
            ctes.push((
                format!("{}__aggregate", group.name),
                self.aggregate_cte(group, relation),
            ));
        }
        let mut current = if self.plan.groups.len() == 1 {
            format!("{}__aggregate", self.plan.groups[0].name)
        } else {
            ctes.push(("joined".into(), self.joined_cte()));
            "joined".to_string()
        };
        if !self.plan.secondary.is_empty() {
            ctes.extend(self.spine_ctes(&current));
            current = "spined".to_string();
        }
        ctes.push(("metrics".into(), self.metrics_cte(&current)?));
        current = "metrics".to_string();
        if !self.plan.secondary.is_empty() {
            ctes.push(("secondary_calculations".into(), self.secondary_cte(&current)));
            current = "secondary_calculations".to_string();
        }
        ctes.push(("final".into(), self.final_cte(&current)));

        let mut sql = String::with_capacity(2048);
        sql.push_str("(\nwith ");
        for (i, (name, body)) in ctes.iter().enumerate() {
            if i > 0 {
                sql.push_str(",\n");
            }
            let _ = write!(sql, "{name} as (\n{body}\n)");
        }
        sql.push_str("\nselect * from final");
        if let Some(w) = &self.plan.query.where_clause {
            let _ = write!(sql, "\nwhere {w}");
        }
        let order: Vec<String> = self.final_keys();
        if !order.is_empty() {
            let _ = write!(sql, "\norder by {}", order.join(", "));
        }
        sql.push_str("\n) metric_subq");
        Ok(sql)
    }

    fn final_keys(&self) -> Vec<String> {
        let mut keys = self.keys();
        if let (Some(alias), Some(first)) = (&self.plan.query.date_alias, keys.first_mut()) {
            *first = self.id(alias);
        }
        keys
    }

    fn calendar_cte(&self) -> String {
        let d = self.dialect;
        let mut sql = match &self.calendar.relation {
            Some(relation) => format!("    select * from {relation}"),
            None => {
                let series = d.day_series(
                    &d.date_literal(DEFAULT_CALENDAR_START),
                    &d.date_literal(DEFAULT_CALENDAR_END),
                );
                let mut s = String::from("    select\n        date_day");
                for g in ["week", "month", "quarter", "year"] {
                    let _ = write!(s, ",\n        {} as date_{g}", d.date_trunc(g, "date_day"));
                }
                let _ = write!(s, "\n    from ({series}) as days");
                s
            }
        };
        let mut conditions = Vec::new();
        if let Some(start) = &self.plan.query.start_date {
            conditions.push(format!("date_day >= {}", d.date_literal(start)));
        }
        if let Some(end) = &self.plan.query.end_date {
            conditions.push(format!("date_day <= {}", d.date_literal(end)));
        }
        if !conditions.is_empty() {
            let _ = write!(sql, "\n    where {}", conditions.join(" and "));
        }
        sql
    }

    fn aggregate_cte(&self, group: &Group<'_>, relation: &str) -> String {
        let d = self.dialect;
        let day = group
            .timestamp
            .map(|t| format!("cast(base_model.{} as date)", self.id(t)));
        let join_calendar = self.plan.grain.is_some() && (self.plan.uses_custom_calendar || group.window.is_some())
            || !self.plan.calendar_dimensions.is_empty();
        let mut select = Vec::new();
        if let (Some(grain), Some(day)) = (self.plan.grain, &day) {
            select.push(if join_calendar {
                format!("calendar.date_{grain} as date_{grain}")
            } else {
                format!("{} as date_{grain}", d.date_trunc(grain, day))
            });
            for p in &self.plan.periods {
                select.push(if join_calendar {
                    format!("calendar.date_{p} as date_{p}")
                } else {
                    format!("{} as date_{p}", d.date_trunc(p, day))
                });
            }
        }
        for dim in &self.plan.dimensions {
            let c = self.id(dim);
            select.push(format!("base_model.{c} as {c}"));
        }
        for dim in &self.plan.calendar_dimensions {
            let c = self.id(dim);
            select.push(format!("calendar.{c} as {c}"));
        }
        let key_count = select.len();
        for m in &group.metrics {
            select.push(format!("{} as {}", self.aggregate(m), self.id(&m.name)));
        }

        let mut sql = format!(
            "    select\n        {}\n    from {relation} as base_model",
            select.join(",\n        ")
        );
        let mut conditions = Vec::new();
        if join_calendar && let Some(day) = &day {
            match group.window {
                Some(w) => {
                    let from = d.date_add(w.period.as_str(), -i64::from(w.count), "calendar.date_day");
                    let _ = write!(
                        sql,
                        "\n    inner join calendar\n        on {day} > {from}\n        and {day} <= calendar.date_day"
                    );
                    if let Some(grain) = self.plan.grain {
                        // A window's value for a period is the window ending on its first day.
                        conditions.push(format!("calendar.date_day = calendar.date_{grain}"));
                    }
                }
                None => {
                    let _ = write!(sql, "\n    left join calendar\n        on {day} = calendar.date_day");
                }
            }
        }
        if let Some(day) = &day {
            if let Some(start) = &self.plan.query.start_date {
                conditions.push(format!("{day} >= {}", d.date_literal(start)));
            }
            if let Some(end) = &self.plan.query.end_date {
                conditions.push(format!("{day} <= {}", d.date_literal(end)));
            }
        }
        for f in group.filters {
            conditions.push(format!("{} {} {}", f.field, f.operator, f.value));
        }
        if !conditions.is_empty() {
            let _ = write!(sql, "\n    where {}", conditions.join("\n        and "));
        }
        if key_count > 0 {
            let positions: Vec<String> = (1..=key_count).map(|i| i.to_string()).collect();
            let _ = write!(sql, "\n    group by {}", positions.join(", "));
        }
        sql
    }

    fn aggregate(&self, m: &Metric) -> String {
        let e = &m.expression;
        match m.calculation_method {
            CalculationMethod::Count => "count(*)".to_string(),
            CalculationMethod::CountDistinct => format!("count(distinct {e})"),
            CalculationMethod::Sum => format!("sum({e})"),
            CalculationMethod::Average => format!("avg({e})"),
            CalculationMethod::Min => format!("min({e})"),
            CalculationMethod::Max => format!("max({e})"),
            CalculationMethod::Median => self.dialect.median(e),
            CalculationMethod::Derived => unreachable!("derived metrics are not aggregated"),
        }
    }

    /// Full outer joins of the groups on the date and dimensions.
    fn joined_cte(&self) -> String {
        let keys = self.keys();
        let aliases: Vec<String> = (0..self.plan.groups.len()).map(|i| format!("g{}", i + 1)).collect();
        let mut select: Vec<String> = keys
            .iter()
            .map(|k| {
                format!(
                    "coalesce({}) as {k}",
                    aliases
                        .iter()
                        .map(|a| format!("{a}.{k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        for (g, a) in self.plan.groups.iter().zip(&aliases) {
            for m in &g.metrics {
                select.push(format!("{a}.{}", self.id(&m.name)));
            }
        }
        let mut sql = format!(
            "    select\n        {}\n    from {}__aggregate as g1",
            select.join(",\n        "),
            self.plan.groups[0].name
        );
        for (i, g) in self.plan.groups.iter().enumerate().skip(1) {
            let a = &aliases[i];
            if keys.is_empty() {
                let _ = write!(sql, "\n    cross join {}__aggregate as {a}", g.name);
                continue;
            }
            let on: Vec<String> = keys
                .iter()
                .map(|k| {
                    let left = if i == 1 {
                        format!("g1.{k}")
                    } else {
                        format!(
                            "coalesce({})",
                            aliases[..i]
                                .iter()
                                .map(|x| format!("{x}.{k}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    self.dialect.null_safe_eq(&left, &format!("{a}.{k}"))
                })
                .collect();
            let _ = write!(
                sql,
                "\n    full outer join {}__aggregate as {a}\n        on {}",
                g.name,
                on.join("\n        and ")
            );
        }
        sql
    }

    /// Every period (and dimension combination) between the first and last period with
    /// data, or the given start and end dates, so window functions see no gaps.
    fn spine_ctes(&self, input: &str) -> Vec<(String, String)> {
        let grain = self.plan.grain.expect("secondary calculations need a grain");
        let date = format!("date_{grain}");
        let mut time_cols = vec![date.clone()];
        time_cols.extend(self.plan.periods.iter().map(|p| format!("date_{p}")));
        time_cols.extend(self.plan.calendar_dimensions.iter().map(|d| self.id(d)));
        let mut conditions = Vec::new();
        if self.plan.query.start_date.is_none() {
            conditions.push(format!("{date} >= (select min({date}) from {input})"));
        }
        if self.plan.query.end_date.is_none() {
            conditions.push(format!("{date} <= (select max({date}) from {input})"));
        }
        let mut spine_time = format!("    select {}\n    from calendar", time_cols.join(", "));
        if !conditions.is_empty() {
            let _ = write!(spine_time, "\n    where {}", conditions.join("\n        and "));
        }
        let positions: Vec<String> = (1..=time_cols.len()).map(|i| i.to_string()).collect();
        let _ = write!(spine_time, "\n    group by {}", positions.join(", "));

        let mut out = vec![("spine__time".to_string(), spine_time)];
        let dims: Vec<String> = self.plan.dimensions.iter().map(|d| self.id(d)).collect();
        let spine = if dims.is_empty() {
            "    select * from spine__time".to_string()
        } else {
            out.push((
                "spine__dimensions".to_string(),
                format!("    select distinct {} from {input}", dims.join(", ")),
            ));
            "    select * from spine__time cross join spine__dimensions".to_string()
        };
        out.push(("spine".to_string(), spine));

        let keys = self.keys();
        let mut select: Vec<String> = keys.iter().map(|k| format!("spine.{k}")).collect();
        for m in self.plan.base_metrics() {
            select.push(format!("{input}.{}", self.id(&m.name)));
        }
        let on: Vec<String> = keys
            .iter()
            .map(|k| {
                self.dialect
                    .null_safe_eq(&format!("spine.{k}"), &format!("{input}.{k}"))
            })
            .collect();
        out.push((
            "spined".to_string(),
            format!(
                "    select\n        {}\n    from spine\n    left join {input}\n        on {}",
                select.join(",\n        "),
                on.join("\n        and ")
            ),
        ));
        out
    }

    /// Base metrics with nulls as zero (unless configured otherwise) and derived metrics.
    fn metrics_cte(&self, input: &str) -> Result<String, CompileError> {
        let mut select: Vec<String> = self.keys();
        for m in self.plan.base_metrics() {
            select.push(format!("{} as {}", self.base_value(m), self.id(&m.name)));
        }
        for m in self.plan.derived_metrics() {
            let expr = derived_sql(m, &|name| self.metric_value(name))?;
            select.push(format!("{expr} as {}", self.id(&m.name)));
        }
        Ok(format!(
            "    select\n        {}\n    from {input}",
            select.join(",\n        ")
        ))
    }

    fn base_value(&self, m: &Metric) -> String {
        let c = self.id(&m.name);
        if m.config.treat_null_values_as_zero {
            format!("coalesce({c}, 0)")
        } else {
            c
        }
    }

    /// The SQL for a metric's value inside the metrics CTE: a base metric's column, or a
    /// derived metric's expression (in parentheses).
    fn metric_value(&self, name: &str) -> Option<String> {
        let m = self.plan.metrics.iter().find(|m| m.name == name)?;
        if m.is_derived() {
            derived_sql(m, &|n| self.metric_value(n)).ok().map(|e| format!("({e})"))
        } else {
            Some(self.base_value(m))
        }
    }

    fn secondary_cte(&self, input: &str) -> String {
        let grain = self.plan.grain.expect("secondary calculations need a grain");
        let date = format!("date_{grain}");
        let mut partition: Vec<String> = self.plan.dimensions.iter().map(|d| self.id(d)).collect();
        partition.extend(self.plan.calendar_dimensions.iter().map(|d| self.id(d)));
        let over = |extra_partition: Option<String>, frame: &str| {
            let mut parts = Vec::new();
            let mut p = partition.clone();
            if let Some(e) = extra_partition {
                p.insert(0, e);
            }
            if !p.is_empty() {
                parts.push(format!("partition by {}", p.join(", ")));
            }
            parts.push(format!("order by {date}"));
            if !frame.is_empty() {
                parts.push(frame.to_string());
            }
            format!("over ({})", parts.join(" "))
        };
        let mut select = vec!["*".to_string()];
        for s in &self.plan.secondary {
            let m = self.id(&s.metric.name);
            let null_as_zero = s.metric.config.treat_null_values_as_zero;
            let expr = match &s.calc.calculation {
                Calculation::PeriodOverPeriod { comparison, interval } => {
                    let lag = format!("lag({m}, {interval}) {}", over(None, ""));
                    match (comparison, null_as_zero) {
                        (Comparison::Difference, true) => format!("coalesce({m}, 0) - coalesce({lag}, 0)"),
                        (Comparison::Difference, false) => format!("{m} - {lag}"),
                        (Comparison::Ratio, true) => format!(
                            "coalesce(cast({m} as {}) / nullif({lag}, 0), 0)",
                            self.dialect.float_type()
                        ),
                        (Comparison::Ratio, false) => {
                            format!("cast({m} as {}) / nullif({lag}, 0)", self.dialect.float_type())
                        }
                    }
                }
                Calculation::PeriodToDate { aggregate, period } => {
                    let partition_by = Some(format!("date_{period}"));
                    format!(
                        "{}({m}) {}",
                        aggregate.sql_function(),
                        over(partition_by, "rows between unbounded preceding and current row")
                    )
                }
                Calculation::Rolling { aggregate, interval } => {
                    let frame = match interval {
                        Some(i) => format!("rows between {} preceding and current row", i - 1),
                        None => "rows between unbounded preceding and current row".to_string(),
                    };
                    format!("{}({m}) {}", aggregate.sql_function(), over(None, &frame))
                }
                Calculation::Prior { interval } => format!("lag({m}, {interval}) {}", over(None, "")),
            };
            select.push(format!("{expr} as {}", self.id(&s.column)));
        }
        format!("    select\n        {}\n    from {input}", select.join(",\n        "))
    }

    fn final_cte(&self, input: &str) -> String {
        let mut select = Vec::new();
        if let Some(date) = self.date_column() {
            match &self.plan.query.date_alias {
                Some(alias) => select.push(format!("{date} as {}", self.id(alias))),
                None => select.push(date),
            }
        }
        select.extend(self.plan.periods.iter().map(|p| format!("date_{p}")));
        select.extend(self.plan.dimensions.iter().map(|d| self.id(d)));
        select.extend(self.plan.calendar_dimensions.iter().map(|d| self.id(d)));
        select.extend(self.plan.base_metrics().map(|m| self.id(&m.name)));
        select.extend(self.plan.derived_metrics().map(|m| self.id(&m.name)));
        select.extend(self.plan.secondary.iter().map(|s| self.id(&s.column)));
        format!("    select\n        {}\n    from {input}", select.join(",\n        "))
    }
}
