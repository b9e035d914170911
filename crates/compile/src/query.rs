//! A metric query: what `metrics.calculate(...)` asks for, as plain data.

use crate::error::CompileError;
use std::fmt;

/// A metric request: the arguments of `metrics.calculate`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricQuery {
    /// Metric names, in the order asked for.
    pub metrics: Vec<String>,
    /// `None` groups by the dimensions only.
    pub grain: Option<String>,
    pub dimensions: Vec<String>,
    pub secondary_calculations: Vec<SecondaryCalculation>,
    /// Inclusive `YYYY-MM-DD` bounds on the metric timestamp.
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// One SQL condition over the output columns.
    pub where_clause: Option<String>,
    /// Name for the date column instead of `date_<grain>`.
    pub date_alias: Option<String>,
}

/// An aggregate used by a secondary calculation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregate {
    Min,
    Max,
    Sum,
    Average,
}

impl Aggregate {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "min" => Self::Min,
            "max" => Self::Max,
            "sum" => Self::Sum,
            "average" | "avg" => Self::Average,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Min => "min",
            Self::Max => "max",
            Self::Sum => "sum",
            Self::Average => "average",
        }
    }

    pub(crate) fn sql_function(self) -> &'static str {
        match self {
            Self::Min => "min",
            Self::Max => "max",
            Self::Sum => "sum",
            Self::Average => "avg",
        }
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How `period_over_period` compares a period with an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    Difference,
    Ratio,
}

/// What a secondary calculation computes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Calculation {
    PeriodOverPeriod {
        comparison: Comparison,
        interval: u32,
    },
    PeriodToDate {
        aggregate: Aggregate,
        period: String,
    },
    /// `interval: None` rolls over every period so far.
    Rolling {
        aggregate: Aggregate,
        interval: Option<u32>,
    },
    Prior {
        interval: u32,
    },
}

/// A secondary calculation, computed over the metric's periods after aggregation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecondaryCalculation {
    pub calculation: Calculation,
    pub alias: Option<String>,
    /// Restricts the calculation to these metrics; `None` means every requested metric.
    pub metric_list: Option<Vec<String>>,
}

impl SecondaryCalculation {
    /// The output column for `metric` at `grain`.
    pub fn column_name(&self, metric: &str, grain: &str) -> String {
        if let Some(alias) = &self.alias {
            return format!("{metric}_{alias}");
        }
        match &self.calculation {
            Calculation::PeriodOverPeriod { comparison, interval } => {
                let strategy = match comparison {
                    Comparison::Difference => "difference",
                    Comparison::Ratio => "ratio",
                };
                format!("{metric}_{strategy}_to_{interval}_{grain}_ago")
            }
            Calculation::PeriodToDate { aggregate, period } => format!("{metric}_{aggregate}_for_{period}"),
            Calculation::Rolling {
                aggregate,
                interval: Some(i),
            } => format!("{metric}_rolling_{aggregate}_{i}_{grain}"),
            Calculation::Rolling {
                aggregate,
                interval: None,
            } => format!("{metric}_rolling_{aggregate}"),
            Calculation::Prior { interval } => format!("{metric}_{interval}_{grain}s_prior"),
        }
    }

    /// The calculation's name as written in dbt (`period_over_period`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self.calculation {
            Calculation::PeriodOverPeriod { .. } => "period_over_period",
            Calculation::PeriodToDate { .. } => "period_to_date",
            Calculation::Rolling { .. } => "rolling",
            Calculation::Prior { .. } => "prior",
        }
    }
}

/// A loosely typed argument value, as it arrives from Jinja or a command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Arg>),
    Map(Vec<(String, Arg)>),
}

impl Arg {
    pub fn type_name(&self) -> &'static str {
        match self {
            Arg::None => "none",
            Arg::Bool(_) => "a boolean",
            Arg::Int(_) => "an integer",
            Arg::Float(_) => "a number",
            Arg::Str(_) => "a string",
            Arg::List(_) => "a list",
            Arg::Map(_) => "a dictionary",
        }
    }
}

/// Builds a secondary calculation from the fields of a dict such as
/// `{"calculation": "rolling", "aggregate": "sum", "interval": 3}`.
pub fn secondary_from_fields(fields: &[(String, Arg)]) -> Result<SecondaryCalculation, CompileError> {
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .filter(|v| **v != Arg::None)
    };
    let Some(Arg::Str(kind)) = get("calculation") else {
        return Err(CompileError::argument(
            "a secondary calculation needs a 'calculation' key: period_over_period, period_to_date, rolling or prior",
        ));
    };
    let allowed: &[&str] = match kind.as_str() {
        "period_over_period" => &["comparison_strategy", "interval"],
        "period_to_date" => &["aggregate", "period"],
        "rolling" => &["aggregate", "interval"],
        "prior" => &["interval"],
        other => {
            return Err(CompileError::argument(format!(
                "unknown secondary calculation '{other}' (expected period_over_period, period_to_date, rolling or prior)"
            )));
        }
    };
    for (key, _) in fields {
        if key != "calculation" && key != "alias" && key != "metric_list" && !allowed.contains(&key.as_str()) {
            return Err(CompileError::argument(format!(
                "{kind} does not take an argument '{key}' (it takes {}, alias and metric_list)",
                allowed.join(", ")
            )));
        }
    }
    let interval = |required: bool| -> Result<Option<u32>, CompileError> {
        match get("interval") {
            None if required => Err(CompileError::argument(format!("interval not provided to {kind}"))),
            None => Ok(None),
            Some(Arg::Int(i)) if *i > 0 && *i <= i64::from(u32::MAX) => Ok(Some(*i as u32)),
            Some(other) => Err(CompileError::argument(format!(
                "the interval of {kind} must be a whole number above zero, got {}",
                describe(other)
            ))),
        }
    };
    let aggregate = || -> Result<Aggregate, CompileError> {
        match get("aggregate") {
            None => Err(CompileError::argument(format!("aggregate not provided to {kind}"))),
            Some(Arg::Str(s)) => Aggregate::parse(s).ok_or_else(|| {
                CompileError::argument(format!(
                    "unknown aggregate '{s}' for {kind} (expected min, max, sum or average)"
                ))
            }),
            Some(other) => Err(CompileError::argument(format!(
                "the aggregate of {kind} must be a string, got {}",
                describe(other)
            ))),
        }
    };
    let calculation = match kind.as_str() {
        "period_over_period" => {
            let comparison = match get("comparison_strategy") {
                Some(Arg::Str(s)) if s == "difference" => Comparison::Difference,
                Some(Arg::Str(s)) if s == "ratio" => Comparison::Ratio,
                None => {
                    return Err(CompileError::argument(
                        "comparison_strategy not provided to period_over_period",
                    ));
                }
                Some(other) => {
                    return Err(CompileError::argument(format!(
                        "bad comparison_strategy for period_over_period: {} (expected 'difference' or 'ratio')",
                        describe(other)
                    )));
                }
            };
            Calculation::PeriodOverPeriod {
                comparison,
                interval: interval(true)?.unwrap_or(1),
            }
        }
        "period_to_date" => {
            let period = match get("period") {
                Some(Arg::Str(p)) => p.to_lowercase(),
                None => return Err(CompileError::argument("period not provided to period_to_date")),
                Some(other) => {
                    return Err(CompileError::argument(format!(
                        "the period of period_to_date must be a grain name, got {}",
                        describe(other)
                    )));
                }
            };
            Calculation::PeriodToDate {
                aggregate: aggregate()?,
                period,
            }
        }
        "rolling" => Calculation::Rolling {
            aggregate: aggregate()?,
            interval: interval(false)?,
        },
        _ => Calculation::Prior {
            interval: interval(true)?.unwrap_or(1),
        },
    };
    let alias = match get("alias") {
        None => None,
        Some(Arg::Str(a)) if is_simple_identifier(a) => Some(a.clone()),
        Some(other) => {
            return Err(CompileError::argument(format!(
                "the alias of {kind} must be a name of letters, digits and underscores, got {}",
                describe(other)
            )));
        }
    };
    let metric_list = match get("metric_list") {
        None => None,
        Some(Arg::Str(s)) => Some(vec![s.clone()]),
        Some(Arg::List(items)) => Some(
            items
                .iter()
                .map(|i| match i {
                    Arg::Str(s) => Ok(s.clone()),
                    other => Err(CompileError::argument(format!(
                        "metric_list of {kind} must name metrics, got {}",
                        describe(other)
                    ))),
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(other) => {
            return Err(CompileError::argument(format!(
                "metric_list of {kind} must be a list of metric names, got {}",
                describe(other)
            )));
        }
    };
    Ok(SecondaryCalculation {
        calculation,
        alias,
        metric_list,
    })
}

/// A value as a user would recognise it in an error message.
pub(crate) fn describe(arg: &Arg) -> String {
    match arg {
        Arg::Str(s) => format!("'{s}'"),
        Arg::Int(i) => i.to_string(),
        Arg::Float(f) => f.to_string(),
        Arg::Bool(b) => b.to_string(),
        other => other.type_name().to_string(),
    }
}

pub(crate) fn is_simple_identifier(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks a `YYYY-MM-DD` date and returns it unchanged.
pub(crate) fn check_date(arg_name: &str, value: &str) -> Result<String, CompileError> {
    let v = value.trim();
    let parts: Vec<&str> = v.split('-').collect();
    let ok = parts.len() == 3
        && parts[0].len() == 4
        && parts[1].len() == 2
        && parts[2].len() == 2
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
        && (1..=12).contains(&parts[1].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&parts[2].parse::<u32>().unwrap_or(0));
    if ok {
        Ok(v.to_string())
    } else {
        Err(CompileError::argument(format!(
            "{arg_name} must be a date written YYYY-MM-DD, got '{value}'"
        )))
    }
}
