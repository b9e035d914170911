//! The legacy metric spec (dbt 1.2–1.5): typed metrics and the rules a metric must follow.

use crate::diagnostic::{Diagnostic, Location};
use crate::yaml::{Node, NodeValue};
use std::fmt;
use std::path::Path;

/// How a metric aggregates its expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CalculationMethod {
    Count,
    CountDistinct,
    Sum,
    Average,
    Min,
    Max,
    Median,
    /// An expression over other metrics.
    Derived,
}

impl CalculationMethod {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "count" => Self::Count,
            "count_distinct" => Self::CountDistinct,
            "sum" => Self::Sum,
            "average" => Self::Average,
            "min" => Self::Min,
            "max" => Self::Max,
            "median" => Self::Median,
            "derived" => Self::Derived,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::CountDistinct => "count_distinct",
            Self::Sum => "sum",
            Self::Average => "average",
            Self::Min => "min",
            Self::Max => "max",
            Self::Median => "median",
            Self::Derived => "derived",
        }
    }
}

impl fmt::Display for CalculationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unit of a metric window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowPeriod {
    Day,
    Week,
    Month,
    Year,
}

impl WindowPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Year => "year",
        }
    }
}

/// `window: {count, period}`: each period's value aggregates the trailing window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub count: u32,
    pub period: WindowPeriod,
}

/// One `filters:` entry; the value is pasted into SQL as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filter {
    pub field: String,
    pub operator: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricConfig {
    pub enabled: bool,
    pub treat_null_values_as_zero: bool,
    pub restrict_no_time_grain: bool,
}

impl Default for MetricConfig {
    fn default() -> Self {
        MetricConfig {
            enabled: true,
            treat_null_values_as_zero: true,
            restrict_no_time_grain: false,
        }
    }
}

/// A metric of the legacy spec, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub label: Option<String>,
    pub description: Option<String>,
    /// The model the metric aggregates (`ref('x')` → `x`); `None` for derived metrics.
    pub model: Option<String>,
    pub calculation_method: CalculationMethod,
    pub expression: String,
    pub timestamp: Option<String>,
    pub time_grains: Vec<String>,
    pub dimensions: Vec<String>,
    pub filters: Vec<Filter>,
    pub window: Option<Window>,
    pub config: MetricConfig,
    pub meta: serde_json::Value,
    pub tags: Vec<String>,
    /// Metrics named by `{{ metric('x') }}` in a derived metric's expression, in order.
    pub metric_refs: Vec<String>,
    pub package_name: String,
    pub location: Location,
}

impl Metric {
    pub fn unique_id(&self) -> String {
        format!("metric.{}.{}", self.package_name, self.name)
    }

    pub fn is_derived(&self) -> bool {
        self.calculation_method == CalculationMethod::Derived
    }
}

/// The grains of the default calendar, finest first.
pub const STANDARD_GRAINS: [&str; 5] = ["day", "week", "month", "quarter", "year"];

/// The fields of a legacy metric, dbt 1.2 names included.
pub(crate) const KNOWN_FIELDS: &[&str] = &[
    "name",
    "label",
    "model",
    "description",
    "calculation_method",
    "type",
    "expression",
    "sql",
    "timestamp",
    "time_grains",
    "dimensions",
    "filters",
    "window",
    "config",
    "meta",
    "tags",
];

/// Reads one entry of a `metrics:` list. Every problem is reported, not just the first.
pub fn parse_metric(node: &Node, file: &Path, package: &str) -> Result<Metric, Vec<Diagnostic>> {
    let mut p = MetricParser {
        file,
        errors: Vec::new(),
        subject: None,
    };
    let metric = p.parse(node, package);
    if p.errors.is_empty() {
        Ok(metric.expect("no errors means a metric"))
    } else {
        Err(p.errors)
    }
}

struct MetricParser<'a> {
    file: &'a Path,
    errors: Vec<Diagnostic>,
    subject: Option<String>,
}

impl MetricParser<'_> {
    fn error(&mut self, node: &Node, field: Option<&str>, message: String) {
        let loc = Location {
            file: self.file.to_path_buf(),
            line: node.pos.line,
        };
        let mut d = Diagnostic::new(loc, message);
        if let Some(s) = &self.subject {
            d = d.subject(format!("metric '{s}'"));
        }
        if let Some(f) = field {
            d = d.field(f);
        }
        self.errors.push(d);
    }

    fn string(&mut self, node: &Node, field: &str) -> Option<String> {
        let value = node.get(field)?;
        match &value.value {
            NodeValue::Null => None,
            NodeValue::Str(s) => Some(s.clone()),
            NodeValue::Int(_) | NodeValue::Float(_) | NodeValue::Bool(_) => value.scalar_text(),
            _ => {
                self.error(value, Some(field), format!("must be a string, found {}", value.kind()));
                None
            }
        }
    }

    fn string_list(&mut self, node: &Node, field: &str) -> Vec<String> {
        let Some(value) = node.get(field) else {
            return Vec::new();
        };
        match &value.value {
            NodeValue::Null => Vec::new(),
            NodeValue::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item.scalar_text() {
                        Some(s) => out.push(s),
                        None => self.error(
                            item,
                            Some(field),
                            format!("entries must be strings, found {}", item.kind()),
                        ),
                    }
                }
                out
            }
            _ => {
                self.error(value, Some(field), format!("must be a list, found {}", value.kind()));
                Vec::new()
            }
        }
    }

    fn bool(&mut self, node: &Node, field: &str, path: &str, default: bool) -> bool {
        match node.get(field) {
            None => default,
            Some(v) => match v.value {
                NodeValue::Bool(b) => b,
                NodeValue::Null => default,
                _ => {
                    self.error(v, Some(path), format!("must be true or false, found {}", v.kind()));
                    default
                }
            },
        }
    }

    fn parse(&mut self, node: &Node, package: &str) -> Option<Metric> {
        let NodeValue::Map(fields) = &node.value else {
            self.error(node, None, format!("a metric must be a mapping, found {}", node.kind()));
            return None;
        };
        let name = self.string(node, "name");
        match &name {
            None => self.error(node, Some("name"), "a metric needs a 'name'".into()),
            Some(n) => {
                self.subject = Some(n.clone());
                if let Some(problem) = name_problem(n) {
                    let at = node.get("name").unwrap_or(node);
                    self.error(at, Some("name"), problem);
                }
            }
        }
        for (key, (pos, _)) in fields {
            if !KNOWN_FIELDS.contains(&key.as_str()) {
                let at = Node {
                    pos: *pos,
                    value: NodeValue::Null,
                };
                self.error(&at, Some(key), format!("unknown metric property '{key}'"));
            }
        }

        let method = self.calculation_method(node);
        let expression = self.expression(node);
        let model_text = self.string(node, "model");
        let model = match (&model_text, method) {
            (Some(_), Some(CalculationMethod::Derived)) => {
                self.error(
                    node.get("model").unwrap_or(node),
                    Some("model"),
                    "Derived metrics cannot have a 'model' property".into(),
                );
                None
            }
            (None, Some(m)) if m != CalculationMethod::Derived => {
                self.error(
                    node,
                    Some("model"),
                    "Non-derived metrics require a 'model' property".into(),
                );
                None
            }
            (Some(text), _) => match parse_ref(text) {
                Some(m) => Some(m),
                None => {
                    self.error(
                        node.get("model").unwrap_or(node),
                        Some("model"),
                        format!("must be a ref to a model, like ref('orders'); found '{text}'"),
                    );
                    None
                }
            },
            (None, _) => None,
        };

        let timestamp = self.string(node, "timestamp");
        let time_grains: Vec<String> = self
            .string_list(node, "time_grains")
            .into_iter()
            .map(|g| g.to_lowercase())
            .collect();
        if !time_grains.is_empty() && timestamp.is_none() {
            let n = self.subject.clone().unwrap_or_default();
            self.error(
                node.get("time_grains").unwrap_or(node),
                Some("time_grains"),
                format!("The metric '{n}' has time_grains defined but is missing a timestamp dimension."),
            );
        }
        if timestamp.is_some() && time_grains.is_empty() && node.get("time_grains").is_none() {
            self.error(
                node,
                Some("time_grains"),
                "a metric with a 'timestamp' needs 'time_grains'".into(),
            );
        }
        for g in &time_grains {
            if !is_identifier(g) {
                self.error(
                    node.get("time_grains").unwrap_or(node),
                    Some("time_grains"),
                    format!("'{g}' is not a valid grain name"),
                );
            }
        }
        let dimensions = self.string_list(node, "dimensions");
        let filters = self.filters(node);
        let window = self.window(node);
        let config = self.config(node);
        if method == Some(CalculationMethod::Derived) && !filters.is_empty() {
            let n = self.subject.clone().unwrap_or_default();
            self.error(
                node.get("filters").unwrap_or(node),
                Some("filters"),
                format!("Derived metrics, such as {n}, do not support the use of filters."),
            );
        }
        let metric_refs = match (&expression, method) {
            (Some(e), Some(CalculationMethod::Derived)) => {
                let refs = metric_refs(e);
                if refs.is_empty() {
                    self.error(
                        node.get("expression").or(node.get("sql")).unwrap_or(node),
                        Some("expression"),
                        "a derived metric's expression must refer to other metrics with {{ metric('name') }}".into(),
                    );
                }
                refs
            }
            _ => Vec::new(),
        };
        let meta = node
            .get("meta")
            .map_or(serde_json::Value::Object(Default::default()), Node::to_json);
        let tags = match node.get("tags") {
            Some(Node {
                value: NodeValue::Str(s),
                ..
            }) => vec![s.clone()],
            _ => self.string_list(node, "tags"),
        };
        if !self.errors.is_empty() {
            return None;
        }
        Some(Metric {
            name: name?,
            label: self.string(node, "label"),
            description: self.string(node, "description"),
            model,
            calculation_method: method?,
            expression: expression?,
            timestamp,
            time_grains,
            dimensions,
            filters,
            window,
            config,
            meta,
            tags,
            metric_refs,
            package_name: package.to_string(),
            location: Location {
                file: self.file.to_path_buf(),
                line: node.pos.line,
            },
        })
    }

    /// `calculation_method` (1.3+) or `type` (1.2, where `expression` means derived).
    fn calculation_method(&mut self, node: &Node) -> Option<CalculationMethod> {
        let new = self.string(node, "calculation_method");
        let old = self.string(node, "type");
        let (text, field) = match (new, old) {
            (Some(_), Some(_)) => {
                self.error(
                    node.get("type").unwrap_or(node),
                    Some("type"),
                    "give either 'calculation_method' or the dbt 1.2 name 'type', not both".into(),
                );
                return None;
            }
            (Some(n), None) => (n, "calculation_method"),
            (None, Some(o)) => (if o == "expression" { "derived".to_string() } else { o }, "type"),
            (None, None) => {
                self.error(
                    node,
                    Some("calculation_method"),
                    "a metric needs a 'calculation_method'".into(),
                );
                return None;
            }
        };
        let method = CalculationMethod::parse(&text);
        if method.is_none() {
            self.error(
                node.get(field).unwrap_or(node),
                Some(field),
                format!(
                    "unknown calculation method '{text}' (expected count, count_distinct, sum, average, min, max, median or derived)"
                ),
            );
        }
        method
    }

    /// `expression` (1.3+) or `sql` (1.2).
    fn expression(&mut self, node: &Node) -> Option<String> {
        let new = self.string(node, "expression");
        let old = self.string(node, "sql");
        match (new, old) {
            (Some(_), Some(_)) => {
                self.error(
                    node.get("sql").unwrap_or(node),
                    Some("sql"),
                    "give either 'expression' or the dbt 1.2 name 'sql', not both".into(),
                );
                None
            }
            (Some(e), None) | (None, Some(e)) => {
                if e.trim().is_empty() {
                    self.error(node, Some("expression"), "the expression is empty".into());
                }
                Some(e)
            }
            (None, None) => {
                self.error(node, Some("expression"), "a metric needs an 'expression'".into());
                None
            }
        }
    }

    fn filters(&mut self, node: &Node) -> Vec<Filter> {
        let Some(list) = node.get("filters") else {
            return Vec::new();
        };
        let items = match &list.value {
            NodeValue::Null => return Vec::new(),
            NodeValue::Seq(items) => items,
            _ => {
                self.error(
                    list,
                    Some("filters"),
                    format!("must be a list of {{field, operator, value}}, found {}", list.kind()),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("filters[{i}]");
            let part = |p: &mut Self, key: &str| -> Option<String> {
                match item.get(key).and_then(Node::scalar_text) {
                    Some(v) => Some(v),
                    None => {
                        p.error(item, Some(&path), format!("a filter needs '{key}'"));
                        None
                    }
                }
            };
            let field = part(self, "field");
            let operator = part(self, "operator");
            let value = part(self, "value");
            if let (Some(field), Some(operator), Some(value)) = (field, operator, value) {
                out.push(Filter { field, operator, value });
            }
        }
        out
    }

    fn window(&mut self, node: &Node) -> Option<Window> {
        let w = node.get("window")?;
        if w.is_null() {
            return None;
        }
        let count = match w.get("count").map(|c| &c.value) {
            Some(NodeValue::Int(c)) if *c > 0 && *c <= i64::from(u32::MAX) => Some(*c as u32),
            _ => {
                self.error(w, Some("window.count"), "must be a whole number above zero".into());
                None
            }
        };
        let period_text = w.get("period").and_then(Node::scalar_text);
        let period = match period_text.as_deref() {
            Some("day") => Some(WindowPeriod::Day),
            Some("week") => Some(WindowPeriod::Week),
            Some("month") => Some(WindowPeriod::Month),
            Some("year") => Some(WindowPeriod::Year),
            other => {
                let found = other.map_or("nothing".to_string(), |s| format!("'{s}'"));
                self.error(
                    w.get("period").unwrap_or(w),
                    Some("window.period"),
                    format!("must be one of day, week, month, year; found {found}"),
                );
                None
            }
        };
        if let NodeValue::Map(m) = &w.value {
            for key in m.keys().filter(|k| *k != "count" && *k != "period") {
                self.error(
                    w,
                    Some("window"),
                    format!("unknown window property '{key}' (expected count and period)"),
                );
            }
        }
        Some(Window {
            count: count?,
            period: period?,
        })
    }

    fn config(&mut self, node: &Node) -> MetricConfig {
        let mut config = MetricConfig::default();
        let Some(c) = node.get("config") else { return config };
        if c.is_null() {
            return config;
        }
        if !matches!(c.value, NodeValue::Map(_)) {
            self.error(c, Some("config"), format!("must be a mapping, found {}", c.kind()));
            return config;
        }
        config.enabled = self.bool(c, "enabled", "config.enabled", true);
        config.treat_null_values_as_zero =
            self.bool(c, "treat_null_values_as_zero", "config.treat_null_values_as_zero", true);
        config.restrict_no_time_grain = self.bool(c, "restrict_no_time_grain", "config.restrict_no_time_grain", false);
        config
    }
}

/// Why a metric name is not allowed, if it is not.
pub fn name_problem(name: &str) -> Option<String> {
    if name.contains(' ') {
        Some(format!("metric names cannot contain spaces: '{name}'"))
    } else if name.chars().count() > 250 {
        Some("metric names must be 250 characters or fewer".into())
    } else if !name.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        Some(format!("metric names must start with a letter: '{name}'"))
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Some(format!(
            "metric names may contain only letters, digits and underscores: '{name}'"
        ))
    } else {
        None
    }
}

fn is_identifier(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `ref('x')`, `ref("x")` or `ref('package', 'x')` → `x`.
pub fn parse_ref(text: &str) -> Option<String> {
    let inner = text
        .trim()
        .strip_prefix("ref")?
        .trim_start()
        .strip_prefix('(')?
        .trim_end()
        .strip_suffix(')')?;
    let last = inner.split(',').next_back()?.trim();
    let unquoted = last
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| last.strip_prefix('"').and_then(|s| s.strip_suffix('"')))?;
    (!unquoted.is_empty()).then(|| unquoted.to_string())
}

/// The metric names in `{{ metric('x') }}` references of an expression, in order, once each.
pub fn metric_refs(expression: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, name, _) in metric_ref_spans(expression) {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out
}

/// Each `{{ metric('x') }}` in an expression as (start, name, end) byte offsets.
pub fn metric_ref_spans(expression: &str) -> Vec<(usize, &str, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = expression[from..].find("{{").map(|i| i + from) {
        let Some(close) = expression[open..].find("}}").map(|i| i + open + 2) else {
            break;
        };
        let inner = expression[open + 2..close - 2].trim();
        if let Some(args) = inner
            .strip_prefix("metric")
            .map(str::trim_start)
            .and_then(|s| s.strip_prefix('('))
        {
            let arg = args.trim_end().strip_suffix(')').unwrap_or(args).trim();
            let name = arg
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| arg.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
            if let Some(name) = name {
                out.push((open, name, close));
            }
        }
        from = close;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn metric(yaml_text: &str) -> Result<Metric, Vec<Diagnostic>> {
        let node = yaml::parse(yaml_text).unwrap();
        parse_metric(&node, Path::new("models/m.yml"), "shop")
    }

    fn errors(yaml_text: &str) -> String {
        metric(yaml_text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    const BASE: &str = "name: revenue\nmodel: ref('orders')\ntimestamp: ordered_at\ntime_grains: [day, month]\n";

    #[test]
    fn parses_a_complete_metric() {
        let m = metric(&format!(
            "{BASE}calculation_method: sum\nexpression: amount\ndimensions: [status]\nfilters:\n  - {{field: status, operator: '=', value: \"'paid'\"}}\nwindow: {{count: 14, period: day}}\nconfig: {{treat_null_values_as_zero: false}}\nmeta: {{owner: finance}}"
        ))
        .unwrap();
        assert_eq!(m.model.as_deref(), Some("orders"));
        assert_eq!(m.calculation_method, CalculationMethod::Sum);
        assert_eq!(m.filters[0].value, "'paid'");
        assert_eq!(
            m.window,
            Some(Window {
                count: 14,
                period: WindowPeriod::Day
            })
        );
        assert!(!m.config.treat_null_values_as_zero);
        assert_eq!(m.unique_id(), "metric.shop.revenue");
        assert_eq!(m.meta["owner"], "finance");
    }

    #[test]
    fn accepts_dbt_1_2_names_but_not_both() {
        let m = metric("name: ratio\ntype: expression\nsql: \"{{ metric('a') }} / {{metric(\\\"b\\\")}}\"\ntimestamp: t\ntime_grains: [day]").unwrap();
        assert_eq!(m.calculation_method, CalculationMethod::Derived);
        assert_eq!(m.metric_refs, vec!["a", "b"]);
        let e = errors(&format!("{BASE}calculation_method: sum\ntype: sum\nexpression: x"));
        assert!(e.contains("not both"), "{e}");
        let e = errors(&format!("{BASE}calculation_method: sum\nexpression: x\nsql: x"));
        assert!(e.contains("'expression' or the dbt 1.2 name 'sql'"), "{e}");
    }

    #[test]
    fn derived_and_model_rules() {
        let e = errors(&format!(
            "{BASE}calculation_method: derived\nexpression: \"{{{{ metric('a') }}}}\""
        ));
        assert!(e.contains("Derived metrics cannot have a 'model' property"), "{e}");
        let e = errors("name: x\ncalculation_method: sum\nexpression: a\ntimestamp: t\ntime_grains: [day]");
        assert!(e.contains("Non-derived metrics require a 'model' property"), "{e}");
        let e = errors(
            "name: x\ncalculation_method: derived\nexpression: \"{{ metric('a') }}\"\nfilters: [{field: a, operator: '=', value: '1'}]",
        );
        assert!(e.contains("do not support the use of filters"), "{e}");
    }

    #[test]
    fn names_the_file_line_metric_and_field() {
        let e = errors(&format!(
            "{BASE}calculation_method: sum\nexpression: x\nwindow:\n  count: 1\n  period: years\n"
        ));
        assert!(
            e.contains("models/m.yml:9: metric 'revenue', field 'window.period'"),
            "{e}"
        );
        assert!(e.contains("found 'years'"), "{e}");
        let e = errors("name: rev\nmodel: ref('o')\ncalculation_method: sum\nexpression: x\ntime_grains: [day]");
        assert!(
            e.contains("has time_grains defined but is missing a timestamp dimension"),
            "{e}"
        );
    }

    #[test]
    fn rejects_bad_names_and_unknown_fields() {
        let e = errors(&format!(
            "{}calculation_method: sum\nexpression: x",
            BASE.replace("revenue", "my revenue")
        ));
        assert!(e.contains("cannot contain spaces"), "{e}");
        let e = errors(&format!(
            "{}calculation_method: sum\nexpression: x",
            BASE.replace("revenue", "'1revenue'")
        ));
        assert!(e.contains("must start with a letter"), "{e}");
        let long = "a".repeat(251);
        let e = errors(&format!(
            "{}calculation_method: sum\nexpression: x",
            BASE.replace("revenue", &long)
        ));
        assert!(e.contains("250 characters"), "{e}");
        let e = errors(&format!("{BASE}calculation_method: sum\nexpression: x\nexpresion: y"));
        assert!(e.contains("unknown metric property 'expresion'"), "{e}");
        let e = errors(&format!("{BASE}calculation_method: total\nexpression: x"));
        assert!(e.contains("unknown calculation method 'total'"), "{e}");
    }

    #[test]
    fn parses_refs() {
        assert_eq!(parse_ref("ref('a')").as_deref(), Some("a"));
        assert_eq!(parse_ref("ref(\"a\")").as_deref(), Some("a"));
        assert_eq!(parse_ref(" ref( 'pkg' , 'a' ) ").as_deref(), Some("a"));
        assert_eq!(parse_ref("a"), None);
    }
}
