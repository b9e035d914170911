//! Checks a [`MetricQuery`] against the definitions and decides how to compute it:
//! which metrics are involved, how they group into aggregations, and what comes after.

use crate::error::{CompileError, ErrorKind};
use crate::query::{Calculation, MetricQuery, SecondaryCalculation, is_simple_identifier};
use strata_manifest::{CalculationMethod, Filter, Metric, STANDARD_GRAINS, Window};

/// Where metric definitions come from: the project, plus metrics defined inline by
/// `metrics.develop`.
pub(crate) trait MetricSource {
    fn metric(&self, name: &str) -> Result<&Metric, CompileError>;
}

/// The calendar the query uses.
#[derive(Debug, Clone, Default)]
pub(crate) struct CalendarSpec {
    /// The relation of a custom calendar model, when `dbt_metrics_calendar_model` is set.
    pub relation: Option<String>,
    /// Calendar columns usable as dimensions (`custom_calendar_dimension_list`).
    pub dimensions: Vec<String>,
}

/// Base metrics that can be aggregated in one pass: same model, timestamp, filters, window.
#[derive(Debug)]
pub(crate) struct Group<'a> {
    pub name: String,
    pub model: &'a str,
    pub timestamp: Option<&'a str>,
    pub filters: &'a [Filter],
    pub window: Option<Window>,
    pub metrics: Vec<&'a Metric>,
}

/// A secondary calculation applied to one metric.
#[derive(Debug)]
pub(crate) struct SecondaryColumn<'a> {
    pub metric: &'a Metric,
    pub calc: &'a SecondaryCalculation,
    pub column: String,
}

/// A checked query, ready to be written as SQL.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub query: &'a MetricQuery,
    pub grain: Option<&'a str>,
    pub dimensions: Vec<&'a str>,
    pub calendar_dimensions: Vec<&'a str>,
    /// Coarser periods needed by period_to_date calculations.
    pub periods: Vec<&'a str>,
    pub groups: Vec<Group<'a>>,
    /// Every metric involved, parents before the derived metrics built on them.
    pub metrics: Vec<&'a Metric>,
    pub secondary: Vec<SecondaryColumn<'a>>,
    pub uses_custom_calendar: bool,
}

impl Plan<'_> {
    pub fn base_metrics(&self) -> impl Iterator<Item = &Metric> {
        self.metrics.iter().copied().filter(|m| !m.is_derived())
    }

    pub fn derived_metrics(&self) -> impl Iterator<Item = &Metric> {
        self.metrics.iter().copied().filter(|m| m.is_derived())
    }

    /// Whether the query needs a calendar relation (not just date truncation).
    pub fn needs_calendar(&self) -> bool {
        self.uses_custom_calendar || !self.secondary.is_empty() || self.groups.iter().any(|g| g.window.is_some())
    }
}

/// Builds the plan, or the first problem with the query.
pub(crate) fn plan<'a>(
    query: &'a MetricQuery,
    source: &'a dyn MetricSource,
    calendar: &'a CalendarSpec,
) -> Result<Plan<'a>, CompileError> {
    if query.metrics.is_empty() {
        return Err(CompileError::argument("No metric or metrics provided"));
    }
    let metrics = metric_tree(query, source)?;
    let grain = query.grain.as_deref();
    check_grain(query, grain, &metrics, calendar)?;

    let mut dimensions = Vec::new();
    let mut calendar_dimensions = Vec::new();
    for dim in &query.dimensions {
        if dimensions.contains(&dim.as_str()) || calendar_dimensions.contains(&dim.as_str()) {
            return Err(CompileError::new(
                ErrorKind::InvalidArgument,
                format!("the dimension '{dim}' is listed twice"),
            ));
        }
        if calendar.dimensions.iter().any(|c| c == dim) {
            calendar_dimensions.push(dim.as_str());
            continue;
        }
        for m in &metrics {
            if !m.dimensions.iter().any(|d| d == dim) {
                let available = if m.dimensions.is_empty() {
                    "none".to_string()
                } else {
                    m.dimensions.join(", ")
                };
                return Err(CompileError::new(
                    ErrorKind::UnknownDimension,
                    format!(
                        "The dimension {dim} is not part of the metric {} (its dimensions: {available})",
                        m.name
                    ),
                ));
            }
        }
        dimensions.push(dim.as_str());
    }

    let secondary = secondary_columns(query, grain, &metrics)?;
    let mut periods = Vec::new();
    for s in &secondary {
        if let Calculation::PeriodToDate { period, .. } = &s.calc.calculation
            && Some(period.as_str()) != grain
            && !periods.contains(&period.as_str())
        {
            periods.push(period.as_str());
        }
    }
    if let Some(alias) = &query.date_alias
        && !is_simple_identifier(alias)
    {
        return Err(CompileError::argument(format!(
            "date_alias must be a plain column name, got '{alias}'"
        )));
    }

    let groups = group_base_metrics(&metrics);
    Ok(Plan {
        query,
        grain,
        dimensions,
        calendar_dimensions,
        periods,
        groups,
        metrics,
        secondary,
        uses_custom_calendar: calendar.relation.is_some(),
    })
}

/// The requested metrics and, for derived ones, every metric they are built from;
/// parents come before children.
fn metric_tree<'a>(query: &MetricQuery, source: &'a dyn MetricSource) -> Result<Vec<&'a Metric>, CompileError> {
    fn visit<'a>(
        name: &str,
        source: &'a dyn MetricSource,
        out: &mut Vec<&'a Metric>,
        path: &mut Vec<String>,
    ) -> Result<(), CompileError> {
        if out.iter().any(|m| m.name == name) {
            return Ok(());
        }
        if path.iter().any(|p| p == name) {
            return Err(CompileError::new(
                ErrorKind::InvalidDefinition,
                format!(
                    "derived metrics refer to each other in a cycle: {} -> {name}",
                    path.join(" -> ")
                ),
            ));
        }
        let metric = source.metric(name)?;
        path.push(name.to_string());
        for parent in &metric.metric_refs {
            visit(parent, source, out, path)?;
        }
        path.pop();
        out.push(metric);
        Ok(())
    }
    let mut out = Vec::new();
    for name in &query.metrics {
        visit(name, source, &mut out, &mut Vec::new())?;
    }
    Ok(out)
}

fn check_grain(
    query: &MetricQuery,
    grain: Option<&str>,
    metrics: &[&Metric],
    calendar: &CalendarSpec,
) -> Result<(), CompileError> {
    let Some(grain) = grain else {
        if !query.secondary_calculations.is_empty() {
            return Err(CompileError::argument(
                "Using secondary calculations without a grain is not supported.",
            ));
        }
        for m in metrics {
            if m.config.restrict_no_time_grain {
                return Err(CompileError::argument(format!(
                    "The metric {} has been configured to not allow non time-grain queries.",
                    m.name
                )));
            }
            if m.window.is_some() {
                return Err(CompileError::argument(format!(
                    "The metric {} has a window and can only be queried with a grain.",
                    m.name
                )));
            }
        }
        return Ok(());
    };
    if !is_simple_identifier(grain) {
        return Err(CompileError::argument(format!("'{grain}' is not a valid grain")));
    }
    if calendar.relation.is_none() && !STANDARD_GRAINS.contains(&grain) {
        return Err(CompileError::argument(format!(
            "The grain {grain} is not known to the default calendar (it has day, week, month, quarter and year); a custom calendar (var dbt_metrics_calendar_model) can add grains"
        )));
    }
    for m in metrics {
        if m.timestamp.is_none() && !m.is_derived() {
            return Err(CompileError::argument(format!(
                "The metric {} has no timestamp, so it cannot be queried with a grain",
                m.name
            )));
        }
        if !m.time_grains.iter().any(|g| g == grain) {
            return Err(CompileError::argument(format!(
                "The grain {grain} is not defined for the metric {} (its time_grains: {})",
                m.name,
                m.time_grains.join(", ")
            )));
        }
    }
    Ok(())
}

/// Which secondary aggregates make sense for a metric's own aggregation.
fn allowed_aggregates(method: CalculationMethod) -> &'static [&'static str] {
    match method {
        CalculationMethod::Average | CalculationMethod::Median => &["min", "max"],
        CalculationMethod::Derived => &["min", "max", "sum"],
        _ => &["min", "max", "sum", "average"],
    }
}

fn grain_rank(grain: &str) -> Option<usize> {
    STANDARD_GRAINS.iter().position(|g| *g == grain)
}

fn secondary_columns<'a>(
    query: &'a MetricQuery,
    grain: Option<&'a str>,
    metrics: &[&'a Metric],
) -> Result<Vec<SecondaryColumn<'a>>, CompileError> {
    let mut out: Vec<SecondaryColumn<'a>> = Vec::new();
    let Some(grain) = grain else { return Ok(out) };
    let requested: Vec<&'a Metric> = metrics
        .iter()
        .copied()
        .filter(|m| query.metrics.contains(&m.name))
        .collect();
    for calc in &query.secondary_calculations {
        if let Some(list) = &calc.metric_list {
            for name in list {
                if !query.metrics.contains(name) {
                    return Err(CompileError::argument(format!(
                        "The metric {name} in the metric_list of {} is not one of the metrics requested ({})",
                        calc.kind_name(),
                        query.metrics.join(", ")
                    )));
                }
            }
        }
        if let Calculation::PeriodToDate { period, .. } = &calc.calculation {
            if !is_simple_identifier(period) {
                return Err(CompileError::argument(format!("'{period}' is not a valid period")));
            }
            if let (Some(p), Some(g)) = (grain_rank(period), grain_rank(grain))
                && p < g
            {
                return Err(CompileError::argument(format!(
                    "The period {period} of period_to_date is finer than the grain {grain}; it must be {grain} or coarser"
                )));
            }
        }
        for m in &requested {
            if calc.metric_list.as_ref().is_some_and(|l| !l.contains(&m.name)) {
                continue;
            }
            let aggregate = match &calc.calculation {
                Calculation::PeriodToDate { aggregate, .. } | Calculation::Rolling { aggregate, .. } => {
                    Some(*aggregate)
                }
                _ => None,
            };
            if let Some(agg) = aggregate {
                let allowed = allowed_aggregates(m.calculation_method);
                if !allowed.contains(&agg.as_str()) {
                    return Err(CompileError::argument(format!(
                        "Can't calculate secondary aggregate {agg} when metric's aggregation is {}. Allowed options are {}.",
                        m.calculation_method,
                        allowed.join(", ")
                    )));
                }
            }
            let column = calc.column_name(&m.name, grain);
            if out.iter().any(|c| c.column == column) || metrics.iter().any(|x| x.name == column) {
                return Err(CompileError::argument(format!(
                    "two output columns would be named {column}; give the secondary calculations different aliases"
                )));
            }
            out.push(SecondaryColumn {
                metric: m,
                calc,
                column,
            });
        }
    }
    Ok(out)
}

fn group_base_metrics<'a>(metrics: &[&'a Metric]) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    for m in metrics.iter().copied().filter(|m| !m.is_derived()) {
        let model = m.model.as_deref().unwrap_or_default();
        let found = groups.iter_mut().find(|g| {
            g.model == model
                && g.timestamp == m.timestamp.as_deref()
                && g.filters == m.filters.as_slice()
                && g.window == m.window
        });
        match found {
            Some(g) => g.metrics.push(m),
            None => groups.push(Group {
                name: m.name.clone(),
                model,
                timestamp: m.timestamp.as_deref(),
                filters: &m.filters,
                window: m.window,
                metrics: vec![m],
            }),
        }
    }
    groups
}
