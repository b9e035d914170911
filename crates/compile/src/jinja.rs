//! dbt's Jinja: the functions a model or a proxy query may call (`ref`, `source`, `var`,
//! `config`, `metric`, `metrics.calculate`, ...), on a minijinja environment built once per
//! definitions snapshot.
//!
//! Functions cannot return our error type through minijinja, so each call stores its
//! [`CompileError`] in the render's [`RenderState`] before failing; the compiler takes it
//! back out, keeping the error's kind.

use crate::compiler::Shared;
use crate::error::{CompileError, ErrorKind};
use crate::plan::MetricSource;
use crate::query::{Arg, MetricQuery, check_date, describe, secondary_from_fields};
use minijinja::value::{Kwargs, Object, Rest, Value, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, State};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use strata_manifest::yaml::{self, Node, NodeValue};
use strata_manifest::{Metric, parse_metric};

/// What one render learned: dependencies, config, and the first error.
#[derive(Debug, Default)]
pub(crate) struct RenderState {
    pub depends_on: Vec<String>,
    pub metrics: Vec<String>,
    pub materialized: Option<String>,
    pub error: Option<CompileError>,
    /// The model being compiled, if any: (name, path).
    pub model: Option<(String, String)>,
}

/// The per-render state, reachable from functions as the context variable `__strata`.
#[derive(Debug, Default)]
pub(crate) struct RenderCell(pub Mutex<RenderState>);

impl Object for RenderCell {}

pub(crate) const STATE_VAR: &str = "__strata";

fn with_state<R>(state: &State, f: impl FnOnce(&mut RenderState) -> R) -> Option<R> {
    let v = state.lookup(STATE_VAR)?;
    let cell = v.downcast_object_ref::<RenderCell>()?;
    let mut guard = cell.0.lock().unwrap_or_else(|e| e.into_inner());
    Some(f(&mut guard))
}

/// Records `err` for the compiler and turns it into a minijinja error.
fn fail(state: &State, err: CompileError) -> Error {
    let message = err.message.clone();
    with_state(state, |s| {
        if s.error.is_none() {
            s.error = Some(err);
        }
    });
    Error::new(minijinja::ErrorKind::InvalidOperation, message)
}

fn add_dependency(state: &State, name: &str) {
    with_state(state, |s| {
        if !s.depends_on.iter().any(|d| d == name) {
            s.depends_on.push(name.to_string());
        }
    });
}

/// Builds the environment for one definitions snapshot.
pub(crate) fn environment(shared: Arc<Shared>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(5_000_000));
    env.set_recursion_limit(200);

    let s = shared.clone();
    env.add_function(
        "ref",
        move |state: &State, args: Rest<ValueOrKwargs>| -> Result<Value, Error> {
            let args = args.0.into_iter().map(Value::from);
            let names: Vec<String> = args.filter(|a| !a.is_kwargs()).map(|a| a.to_string()).collect();
            let Some(name) = names.last() else {
                return Err(fail(state, CompileError::argument("ref() needs a model name")));
            };
            match s.relation(name) {
                Some(rel) => {
                    add_dependency(state, name);
                    Ok(Value::from_safe_string(rel))
                }
                None => {
                    let who = with_state(state, |st| st.model.clone()).flatten();
                    let message = match who {
                        Some((model, path)) => format!(
                            "Model 'model.{}.{model}' ({path}) depends on a node named '{name}' which was not found",
                            s.project.name
                        ),
                        None => format!("ref('{name}'): no model or seed named '{name}' was found"),
                    };
                    Err(fail(state, CompileError::new(ErrorKind::UnknownRelation, message)))
                }
            }
        },
    );

    let s = shared.clone();
    env.add_function("source", move |state: &State, source_name: String, table: String| -> Result<Value, Error> {
        match s.project.source(&source_name, &table) {
            Some(src) => Ok(Value::from_safe_string(format!(
                "{}.{}",
                crate::sql::ident(s.dialect, &src.schema),
                crate::sql::ident(s.dialect, &src.identifier)
            ))),
            None => Err(fail(
                state,
                CompileError::new(
                    ErrorKind::UnknownRelation,
                    format!("source('{source_name}', '{table}') was not found; declare it under 'sources:' in a YAML file"),
                ),
            )),
        }
    });

    let s = shared.clone();
    env.add_function(
        "var",
        move |state: &State, name: String, default: Option<Value>| -> Result<Value, Error> {
            match s.project.vars.get(&name) {
                Some(v) => Ok(json_to_value(v)),
                None => default.ok_or_else(|| {
                    fail(
                        state,
                        CompileError::argument(format!(
                            "Required var '{name}' not found in config: set it under 'vars:' in dbt_project.yml"
                        )),
                    )
                }),
            }
        },
    );

    let s = shared.clone();
    env.add_function(
        "env_var",
        move |state: &State, name: String, default: Option<Value>| -> Result<Value, Error> {
            match s.env.get(&name) {
                Some(v) => Ok(Value::from(v.clone())),
                None => default.ok_or_else(|| {
                    fail(
                        state,
                        CompileError::argument(format!("Env var required but not provided: '{name}'")),
                    )
                }),
            }
        },
    );

    env.add_function("config", |state: &State, kwargs: Kwargs| -> Result<Value, Error> {
        let keys: Vec<String> = kwargs.args().map(str::to_string).collect();
        for key in keys {
            let value: Value = kwargs.get(&key)?;
            if key == "materialized"
                && let Some(m) = value.as_str()
            {
                let m = m.to_string();
                with_state(state, |s| s.materialized = Some(m));
            }
        }
        Ok(Value::from(""))
    });

    env.add_function("is_incremental", || false);
    env.add_function("log", |_args: Rest<ValueOrKwargs>| Value::from(""));
    env.add_function(
        "run_query",
        |state: &State, _args: Rest<ValueOrKwargs>| -> Result<Value, Error> { Err(fail(state, refused("run_query"))) },
    );
    env.add_function(
        "statement",
        |state: &State, _args: Rest<ValueOrKwargs>| -> Result<Value, Error> {
            Err(fail(state, refused("statement blocks")))
        },
    );

    let s = shared.clone();
    env.add_function("metric", move |state: &State, name: String| -> Result<Value, Error> {
        if s.project.metrics.contains_key(&name) {
            Ok(Value::from_object(MetricNode(name)))
        } else {
            Err(fail(state, s.unknown_metric(state, &name)))
        }
    });

    let s = shared.clone();
    env.add_function("date_trunc", move |datepart: String, date: String| {
        s.dialect.date_trunc(&datepart, &date)
    });
    let s = shared.clone();
    env.add_function(
        "dateadd",
        move |state: &State, datepart: String, interval: Value, from: String| match interval.as_i64() {
            Some(n) => Ok(s.dialect.date_add(&datepart, n, &from)),
            None => Err(fail(
                state,
                CompileError::argument(format!("dateadd: interval must be a whole number, got {interval}")),
            )),
        },
    );

    let target: BTreeMap<String, Value> = [
        ("type", Value::from(shared.dialect.name())),
        ("name", Value::from(shared.target_name.clone())),
        (
            "schema",
            Value::from(shared.target_schema.clone().unwrap_or_else(|| "main".into())),
        ),
        ("database", Value::from(shared.project.name.clone())),
        ("profile_name", Value::from("strata")),
        ("threads", Value::from(1)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    env.add_global("target", Value::from(target));
    env.add_global("execute", true);
    env.add_global(
        "flags",
        Value::from(BTreeMap::from([("FULL_REFRESH".to_string(), Value::from(false))])),
    );
    env.add_global(
        "metrics",
        Value::from_object(Namespace {
            shared: shared.clone(),
            name: "metrics",
        }),
    );
    env.add_global(
        "dbt",
        Value::from_object(Namespace {
            shared: shared.clone(),
            name: "dbt",
        }),
    );
    env.add_global(
        "dbt_utils",
        Value::from_object(Namespace {
            shared: shared.clone(),
            name: "dbt_utils",
        }),
    );
    env.add_global(
        "adapter",
        Value::from_object(Namespace {
            shared: shared.clone(),
            name: "adapter",
        }),
    );
    env.add_global(
        "exceptions",
        Value::from_object(Namespace {
            shared,
            name: "exceptions",
        }),
    );
    env
}

fn refused(what: &str) -> CompileError {
    CompileError::new(
        ErrorKind::Unsupported,
        format!(
            "{what} is not supported: Strata compiles dbt-SQL without querying the warehouse, so introspective queries are refused"
        ),
    )
}

/// The value of `metric('x')`: a reference a `metrics.*` macro accepts.
#[derive(Debug)]
struct MetricNode(String);

impl Object for MetricNode {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" => Some(Value::from(self.0.clone())),
            "unique_id" => Some(Value::from(format!("metric.{}", self.0))),
            _ => None,
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A macro namespace (`metrics`, `dbt`, `dbt_utils`, `adapter`, `exceptions`).
#[derive(Debug)]
struct Namespace {
    shared: Arc<Shared>,
    name: &'static str,
}

impl Object for Namespace {
    fn call_method(self: &Arc<Self>, state: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let s = &self.shared;
        let result = match (self.name, method) {
            ("metrics", "calculate") => calculate(s, state, args, false),
            ("metrics", "develop") => calculate(s, state, args, true),
            ("metrics", "period_over_period") => {
                secondary(state, args, "period_over_period", &["comparison_strategy", "interval", "alias", "metric_list"])
            }
            ("metrics", "period_to_date") => {
                secondary(state, args, "period_to_date", &["aggregate", "period", "alias", "metric_list"])
            }
            ("metrics", "rolling") => secondary(state, args, "rolling", &["aggregate", "interval", "alias", "metric_list"]),
            ("metrics", "prior") => secondary(state, args, "prior", &["interval", "alias", "metric_list"]),
            ("metrics" | "dbt_utils" | "dbt", "metric_date_spine" | "date_spine") => date_spine(s, args),
            ("dbt", "date_trunc") => {
                let a = positional(args, &["datepart", "date"]);
                Ok(Value::from(s.dialect.date_trunc(&text(&a[0]), &text(&a[1]))))
            }
            ("dbt", "dateadd") => {
                let a = positional(args, &["datepart", "interval", "from_date_or_timestamp"]);
                match arg(&a[1]) {
                    Arg::Int(n) => Ok(Value::from(s.dialect.date_add(&text(&a[0]), n, &text(&a[2])))),
                    other => Err(CompileError::argument(format!("dateadd: interval must be a whole number, got {}", describe(&other)))),
                }
            }
            ("dbt", "current_timestamp") => Ok(Value::from("current_timestamp")),
            ("dbt", "type_string") => Ok(Value::from("varchar")),
            ("dbt", "type_float") => Ok(Value::from(s.dialect.float_type())),
            ("dbt", "type_int") => Ok(Value::from("integer")),
            ("exceptions", "raise_compiler_error") => {
                Err(CompileError::new(ErrorKind::InvalidArgument, args.first().map(|a| a.to_string()).unwrap_or_default()))
            }
            ("exceptions", "warn") => Ok(Value::from("")),
            ("adapter", "dispatch") => Err(CompileError::new(
                ErrorKind::Unsupported,
                "adapter.dispatch is not supported: Strata does not run user macro packages".to_string(),
            )),
            ("adapter", m) => Err(refused(&format!("adapter.{m}"))),
            ("metrics", "metric") => Err(CompileError::new(
                ErrorKind::InvalidArgument,
                "'metrics' has no macro named 'metric': metrics.metric was removed from dbt_metrics; use metrics.calculate(metric('name'), grain=..., ...)".to_string(),
            )),
            (ns, m) => Err(CompileError::new(ErrorKind::InvalidArgument, format!("'{ns}' has no macro named '{m}'"))),
        };
        result.map_err(|e| fail(state, e))
    }
}

/// Positional and keyword arguments in declaration order; `Value::UNDEFINED` where absent.
/// Unknown keywords and surplus positionals are reported by [`bind`].
fn positional(args: &[Value], names: &[&str]) -> Vec<Value> {
    bind(args, names, "").unwrap_or_else(|_| vec![Value::UNDEFINED; names.len()])
}

fn bind(args: &[Value], names: &[&str], macro_name: &str) -> Result<Vec<Value>, CompileError> {
    let mut out = vec![Value::UNDEFINED; names.len()];
    let mut i = 0;
    for a in args {
        if a.is_kwargs() {
            if let Ok(keys) = a.try_iter() {
                for key in keys {
                    let k = key.as_str().unwrap_or_default().to_string();
                    let Some(pos) = names.iter().position(|n| *n == k) else {
                        return Err(CompileError::argument(format!(
                            "{macro_name} got an unexpected argument '{k}' (it takes {})",
                            names.join(", ")
                        )));
                    };
                    out[pos] = a.get_item(&key).unwrap_or(Value::UNDEFINED);
                }
            }
        } else {
            if i >= names.len() {
                return Err(CompileError::argument(format!(
                    "{macro_name} takes at most {} arguments ({})",
                    names.len(),
                    names.join(", ")
                )));
            }
            out[i] = a.clone();
            i += 1;
        }
    }
    Ok(out)
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

/// A Jinja value as a loosely typed argument.
pub(crate) fn arg(v: &Value) -> Arg {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => Arg::None,
        ValueKind::Bool => Arg::Bool(v.is_true()),
        ValueKind::Number => match v.as_i64() {
            Some(i) if v.to_string().parse::<i64>().is_ok() => Arg::Int(i),
            _ => Arg::Float(f64::try_from(v.clone()).unwrap_or(f64::NAN)),
        },
        ValueKind::String => Arg::Str(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq | ValueKind::Iterable => {
            Arg::List(v.try_iter().map(|it| it.map(|x| arg(&x)).collect()).unwrap_or_default())
        }
        ValueKind::Map => {
            if let Some(m) = v.downcast_object_ref::<MetricNode>() {
                return Arg::Str(m.0.clone());
            }
            let mut fields = Vec::new();
            if let Ok(keys) = v.try_iter() {
                for k in keys {
                    let val = v.get_item(&k).unwrap_or(Value::UNDEFINED);
                    fields.push((k.to_string(), arg(&val)));
                }
            }
            Arg::Map(fields)
        }
        _ => Arg::Str(v.to_string()),
    }
}

fn secondary(state: &State, args: &[Value], kind: &str, names: &[&str]) -> Result<Value, CompileError> {
    let bound = bind(args, names, &format!("metrics.{kind}"))?;
    let mut fields = vec![("calculation".to_string(), Arg::Str(kind.to_string()))];
    let mut map = BTreeMap::new();
    map.insert("calculation".to_string(), Value::from(kind));
    for (name, v) in names.iter().zip(bound) {
        if !v.is_undefined() && !v.is_none() {
            fields.push((name.to_string(), arg(&v)));
            map.insert(name.to_string(), v);
        }
    }
    // Check now, so a mistake is reported where the calculation is written.
    secondary_from_fields(&fields)?;
    let _ = state;
    Ok(Value::from(map))
}

fn date_spine(s: &Shared, args: &[Value]) -> Result<Value, CompileError> {
    let a = bind(args, &["datepart", "start_date", "end_date"], "date_spine")?;
    let datepart = text(&a[0]);
    if datepart != "day" {
        return Err(CompileError::argument(format!(
            "date_spine supports datepart 'day' only, got '{datepart}'"
        )));
    }
    let (start, end) = (text(&a[1]), text(&a[2]));
    // dbt's date spine excludes its end date.
    let last = s.dialect.date_add("day", -1, &format!("cast({end} as date)"));
    Ok(Value::from(
        s.dialect.day_series(&format!("cast({start} as date)"), &last),
    ))
}

/// `metrics.calculate(...)` and `metrics.develop(...)`.
fn calculate(s: &Arc<Shared>, state: &State, args: &[Value], develop: bool) -> Result<Value, CompileError> {
    // metrics.develop takes develop_yml first, then calculate's arguments.
    const DEVELOP: &[&str] = &[
        "develop_yml",
        "metric_list",
        "grain",
        "dimensions",
        "secondary_calculations",
        "start_date",
        "end_date",
        "where",
        "date_alias",
    ];
    const CALCULATE: &[&str] = DEVELOP.split_at(1).1;
    let macro_name = if develop {
        "metrics.develop"
    } else {
        "metrics.calculate"
    };
    let mut a = bind(args, if develop { DEVELOP } else { CALCULATE }, macro_name)?;
    let develop_metrics = if develop {
        let yml = a.remove(0);
        let Some(text) = yml.as_str() else {
            return Err(CompileError::argument(format!(
                "{macro_name}: develop_yml must be a YAML string, got {}",
                describe(&arg(&yml))
            )));
        };
        parse_develop_yaml(s, state, text)?
    } else {
        Vec::new()
    };
    let metrics = match arg(&a[0]) {
        Arg::Str(name) => vec![name],
        Arg::List(items) if !items.is_empty() => items
            .into_iter()
            .map(|i| match i {
                Arg::Str(n) => Ok(n),
                other => Err(CompileError::argument(format!(
                    "{macro_name}: metric_list must contain metric('name') references, got {}",
                    describe(&other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        Arg::None | Arg::List(_) => return Err(CompileError::argument("No metric or metrics provided")),
        other => {
            return Err(CompileError::argument(format!(
                "{macro_name}: metric_list must be metric('name') or a list of them, got {}",
                describe(&other)
            )));
        }
    };
    let string_arg = |v: &Value, name: &str| -> Result<Option<String>, CompileError> {
        match arg(v) {
            Arg::None => Ok(None),
            Arg::Str(s) => Ok(Some(s)),
            other => Err(CompileError::argument(format!(
                "{macro_name}: {name} must be a string, got {}",
                describe(&other)
            ))),
        }
    };
    let grain = string_arg(&a[1], "grain")?.map(|g| g.to_lowercase());
    let dimensions = match arg(&a[2]) {
        Arg::None => Vec::new(),
        Arg::List(items) => items
            .into_iter()
            .map(|i| match i {
                Arg::Str(d) => Ok(d),
                other => Err(CompileError::argument(format!(
                    "{macro_name}: dimensions must be a list of column names, got {}",
                    describe(&other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        Arg::Str(d) => {
            return Err(CompileError::argument(format!(
                "{macro_name}: dimensions must be a list, like dimensions=['{d}']"
            )));
        }
        other => {
            return Err(CompileError::argument(format!(
                "{macro_name}: dimensions must be a list, got {}",
                describe(&other)
            )));
        }
    };
    let secondary_calculations = match arg(&a[3]) {
        Arg::None => Vec::new(),
        Arg::List(items) => items
            .iter()
            .map(|i| match i {
                Arg::Map(fields) => secondary_from_fields(fields),
                other => Err(CompileError::argument(format!(
                    "{macro_name}: secondary_calculations must be a list of metrics.period_over_period(...), metrics.period_to_date(...), metrics.rolling(...) or metrics.prior(...), got {}",
                    describe(other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(CompileError::argument(format!(
                "{macro_name}: secondary_calculations must be a list, got {}",
                describe(&other)
            )));
        }
    };
    let start_date = string_arg(&a[4], "start_date")?
        .map(|d| check_date("start_date", &d))
        .transpose()?;
    let end_date = string_arg(&a[5], "end_date")?
        .map(|d| check_date("end_date", &d))
        .transpose()?;
    let where_clause = match arg(&a[6]) {
        Arg::None => None,
        Arg::Str(w) => Some(w),
        Arg::List(_) => {
            return Err(CompileError::argument(format!(
                "{macro_name}: where must be one SQL string, like where=\"country = 'France'\"; a list of conditions is no longer supported"
            )));
        }
        other => {
            return Err(CompileError::argument(format!(
                "{macro_name}: where must be a string, got {}",
                describe(&other)
            )));
        }
    };
    let date_alias = string_arg(&a[7], "date_alias")?;
    let query = MetricQuery {
        metrics,
        grain,
        dimensions,
        secondary_calculations,
        start_date,
        end_date,
        where_clause,
        date_alias,
    };

    let source = DevelopSource {
        shared: s,
        develop: &develop_metrics,
        state,
    };
    let compiled = s.metric_query_sql(&query, &source)?;
    for dep in compiled.depends_on {
        add_dependency(state, &dep);
    }
    with_state(state, |st| {
        for m in &query.metrics {
            if !st.metrics.contains(m) {
                st.metrics.push(m.clone());
            }
        }
    });
    Ok(Value::from_safe_string(compiled.sql))
}

/// Metrics defined inline for `metrics.develop`, in front of the project's.
struct DevelopSource<'a> {
    shared: &'a Shared,
    develop: &'a [Metric],
    state: &'a State<'a, 'a>,
}

impl MetricSource for DevelopSource<'_> {
    fn metric(&self, name: &str) -> Result<&Metric, CompileError> {
        if let Some(m) = self.develop.iter().find(|m| m.name == name) {
            return Ok(m);
        }
        self.shared
            .project
            .metrics
            .get(name)
            .ok_or_else(|| self.shared.unknown_metric(self.state, name))
    }
}

fn parse_develop_yaml(s: &Shared, state: &State, text: &str) -> Result<Vec<Metric>, CompileError> {
    let file = with_state(state, |st| st.model.as_ref().map(|m| m.1.clone()))
        .flatten()
        .unwrap_or_else(|| "develop_yml".into());
    let bad = |message: String| CompileError::new(ErrorKind::InvalidDefinition, format!("metrics.develop: {message}"));
    let doc = yaml::parse(text).map_err(|e| {
        bad(format!(
            "develop_yml is not valid YAML (line {}): {}",
            e.pos.line, e.message
        ))
    })?;
    let Some(Node {
        value: NodeValue::Seq(items),
        ..
    }) = doc.get("metrics")
    else {
        return Err(bad("develop_yml must have a 'metrics:' list".into()));
    };
    let mut out: Vec<Metric> = Vec::new();
    for item in items {
        let m = parse_metric(item, std::path::Path::new(&file), &s.project.name)
            .map_err(|errs| bad(errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")))?;
        if let Some(model) = &m.model
            && !s.project.has_node(model)
        {
            return Err(CompileError::new(
                ErrorKind::UnknownRelation,
                format!(
                    "metrics.develop: metric '{}' refers to model '{model}', which was not found",
                    m.name
                ),
            ));
        }
        out.push(m);
    }
    Ok(out)
}

/// A JSON value (from `vars`) as a Jinja value.
pub(crate) fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::from)
            .unwrap_or_else(|| Value::from(n.as_f64().unwrap_or(0.0))),
        serde_json::Value::String(s) => Value::from(s.clone()),
        serde_json::Value::Array(items) => Value::from(items.iter().map(json_to_value).collect::<Vec<_>>()),
        serde_json::Value::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}
