//! The compiler for one definitions snapshot: dbt-SQL text in, warehouse SQL out.

use crate::dialect::{Dialect, DuckDb};
use crate::error::{CompileError, ErrorKind};
use crate::jinja::{RenderCell, STATE_VAR, environment};
use crate::plan::{CalendarSpec, MetricSource, plan};
use crate::query::MetricQuery;
use crate::sql::{SqlWriter, ident};
use minijinja::value::Value;
use minijinja::{Environment, State};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use strata_manifest::{Location, Materialization, Metric, Project, parse_ref};

/// How to compile: for which warehouse, and where the project's models live there.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    pub dialect: &'static dyn Dialect,
    /// The schema models and seeds are built in; `None` leaves relations unqualified.
    pub target_schema: Option<String>,
    /// `target.name` in Jinja.
    pub target_name: String,
    /// What `env_var()` can read. The compiler never reads the process environment itself.
    pub env_vars: BTreeMap<String, String>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            dialect: &DuckDb,
            target_schema: None,
            target_name: "default".into(),
            env_vars: BTreeMap::new(),
        }
    }
}

/// The result of compiling dbt-SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub sql: String,
    /// Models and seeds the SQL reads, directly or through metrics.
    pub depends_on: Vec<String>,
    /// Metrics it asks for.
    pub metrics: Vec<String>,
    /// Set by `{{ config(materialized=...) }}`.
    pub materialized: Option<Materialization>,
}

/// SQL for one metric query and what it reads.
pub(crate) struct MetricSql {
    pub sql: String,
    pub depends_on: Vec<String>,
}

/// Everything Jinja functions need, shared by the environment's closures.
#[derive(Debug)]
pub(crate) struct Shared {
    pub project: Arc<Project>,
    pub dialect: &'static dyn Dialect,
    pub target_schema: Option<String>,
    pub target_name: String,
    pub env: BTreeMap<String, String>,
    pub calendar: CalendarSpec,
    /// The model named by `dbt_metrics_calendar_model`, when set.
    pub calendar_model: Option<String>,
}

impl Shared {
    /// The relation `ref(name)` stands for.
    pub fn relation(&self, name: &str) -> Option<String> {
        if !self.project.has_node(name) {
            return None;
        }
        Some(match &self.target_schema {
            Some(schema) => format!("{}.{}", ident(self.dialect, schema), ident(self.dialect, name)),
            None => ident(self.dialect, name),
        })
    }

    pub fn unknown_metric(&self, state: &State, name: &str) -> CompileError {
        let model = state.lookup(STATE_VAR).and_then(|v| {
            v.downcast_object_ref::<RenderCell>()
                .and_then(|c| c.0.lock().ok().and_then(|s| s.model.clone()))
        });
        self.unknown_metric_in(model, name)
    }

    /// The error for a metric that is not defined, naming the model that asked for it (when
    /// compiling one) and a disabled metric or a close name when there is one.
    fn unknown_metric_in(&self, model: Option<(String, String)>, name: &str) -> CompileError {
        let mut message = match model {
            Some((model, path)) => format!(
                "Model 'model.{}.{model}' ({path}) depends on a metric named '{name}' which was not found",
                self.project.name
            ),
            None => format!("Unknown metric '{name}'"),
        };
        if self.project.disabled_metrics.contains_key(name) {
            message.push_str(&format!("; the metric '{name}' is disabled (config.enabled: false)"));
        } else if let Some(close) = closest(name, self.project.metrics.keys().map(String::as_str)) {
            message.push_str(&format!("; did you mean '{close}'?"));
        }
        CompileError::new(ErrorKind::UnknownMetric, message)
    }

    pub fn metric_query_sql(&self, query: &MetricQuery, source: &dyn MetricSource) -> Result<MetricSql, CompileError> {
        if self.calendar.relation.is_none()
            && let Some(model) = &self.calendar_model
        {
            return Err(CompileError::new(
                ErrorKind::UnknownRelation,
                format!("the calendar model '{model}' named by var dbt_metrics_calendar_model was not found"),
            ));
        }
        let plan = plan(query, source, &self.calendar)?;
        let mut depends_on = Vec::new();
        let mut relations = Vec::new();
        for g in &plan.groups {
            let rel = self.relation(g.model).ok_or_else(|| {
                CompileError::new(
                    ErrorKind::UnknownRelation,
                    format!(
                        "The metric {} refers to model '{}', which was not found",
                        g.metrics[0].name, g.model
                    ),
                )
            })?;
            relations.push(rel);
            if !depends_on.iter().any(|d| d == g.model) {
                depends_on.push(g.model.to_string());
            }
        }
        if let Some(cal) = &self.calendar_model {
            depends_on.push(cal.clone());
        }
        let sql = SqlWriter {
            plan: &plan,
            dialect: self.dialect,
            calendar: &self.calendar,
            relations,
        }
        .write()?;
        Ok(MetricSql { sql, depends_on })
    }
}

impl MetricSource for Shared {
    fn metric(&self, name: &str) -> Result<&Metric, CompileError> {
        self.project
            .metrics
            .get(name)
            .ok_or_else(|| self.unknown_metric_in(None, name))
    }
}

/// The most similar name, if one is close enough to be a likely typo.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1; b.len() + 1];
            for (j, cb) in b.iter().enumerate() {
                cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    }
    let limit = (name.len() / 3).max(1);
    candidates
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Compiles dbt-SQL against one immutable definitions snapshot. Cheap to share: build it
/// once per snapshot and call it from any thread.
pub struct Compiler {
    shared: Arc<Shared>,
    env: Environment<'static>,
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler")
            .field("project", &self.shared.project.name)
            .finish()
    }
}

impl Compiler {
    pub fn new(project: Arc<Project>, options: CompileOptions) -> Compiler {
        let calendar_model = project
            .vars
            .get("dbt_metrics_calendar_model")
            .and_then(|v| v.as_str())
            .map(|s| {
                let s = s.trim();
                parse_ref(s).unwrap_or_else(|| s.to_string())
            });
        let dimensions = match project.vars.get("custom_calendar_dimension_list") {
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect()
            }
            _ => Vec::new(),
        };
        let mut shared = Shared {
            project,
            dialect: options.dialect,
            target_schema: options.target_schema,
            target_name: options.target_name,
            env: options.env_vars,
            calendar: CalendarSpec {
                relation: None,
                dimensions,
            },
            calendar_model,
        };
        shared.calendar.relation = shared.calendar_model.as_deref().and_then(|m| shared.relation(m));
        let shared = Arc::new(shared);
        let env = environment(shared.clone());
        Compiler { shared, env }
    }

    pub fn project(&self) -> &Arc<Project> {
        &self.shared.project
    }

    pub fn dialect(&self) -> &'static dyn Dialect {
        self.shared.dialect
    }

    /// The schema models and seeds are built in, when not the warehouse's default.
    pub fn target_schema(&self) -> Option<&str> {
        self.shared.target_schema.as_deref()
    }

    /// The relation a model or seed is built as.
    pub fn relation(&self, name: &str) -> Option<String> {
        self.shared.relation(name)
    }

    /// Compiles dbt-SQL sent by a client (or given on the command line).
    pub fn compile(&self, sql: &str) -> Result<Compiled, CompileError> {
        if !sql.contains('{') {
            // Plain SQL: nothing to render.
            return Ok(Compiled {
                sql: sql.to_string(),
                depends_on: Vec::new(),
                metrics: Vec::new(),
                materialized: None,
            });
        }
        self.render("<query>", sql, None)
    }

    /// Compiles one of the project's models.
    pub fn compile_model(&self, name: &str) -> Result<Compiled, CompileError> {
        let model = self.shared.project.models.get(name).ok_or_else(|| {
            CompileError::new(
                ErrorKind::UnknownRelation,
                format!("no model named '{name}' in the project"),
            )
        })?;
        let path = model.path.display().to_string();
        self.render(&path, &model.raw_sql, Some((name.to_string(), path.clone())))
    }

    /// Compiles a metric query given as data rather than as dbt-SQL: the SQL of
    /// `select * from {{ metrics.calculate(...) }}`.
    pub fn compile_query(&self, query: &MetricQuery) -> Result<Compiled, CompileError> {
        let m = self.shared.metric_query_sql(query, self.shared.as_ref())?;
        Ok(Compiled {
            sql: format!("select * from {}", m.sql),
            depends_on: m.depends_on,
            metrics: query.metrics.clone(),
            materialized: None,
        })
    }

    fn render(&self, name: &str, source: &str, model: Option<(String, String)>) -> Result<Compiled, CompileError> {
        let cell = Arc::new(RenderCell::default());
        if let Ok(mut s) = cell.0.lock() {
            s.model = model.clone();
        }
        let this = model
            .as_ref()
            .and_then(|(m, _)| self.shared.relation(m))
            .map(Value::from_safe_string);
        let ctx = minijinja::context! {
            __strata => Value::from_dyn_object(cell.clone()),
            this => this,
        };
        let rendered = self.env.render_named_str(name, source, ctx);
        let mut state = std::mem::take(&mut *cell.0.lock().unwrap_or_else(|e| e.into_inner()));
        let location = |line: Option<usize>| {
            model.as_ref().map(|(_, path)| Location {
                file: PathBuf::from(path),
                line: line.unwrap_or(0),
            })
        };
        match rendered {
            Ok(sql) => {
                let materialized = match state.materialized.as_deref() {
                    None => None,
                    Some(m) => Some(Materialization::parse(m).ok_or_else(|| CompileError {
                        kind: ErrorKind::InvalidArgument,
                        message: format!("config(materialized='{m}'): expected view, table, incremental or ephemeral"),
                        location: location(None),
                    })?),
                };
                Ok(Compiled {
                    sql,
                    depends_on: state.depends_on,
                    metrics: state.metrics,
                    materialized,
                })
            }
            Err(err) => {
                let mut e = state.error.take().unwrap_or_else(|| {
                    let detail = err.detail().map(|d| format!(": {d}")).unwrap_or_default();
                    CompileError::new(ErrorKind::Template, format!("{}{detail}", err.kind()))
                });
                if e.location.is_none() {
                    e.location = location(err.line());
                }
                Err(e)
            }
        }
    }
}
