//! A dbt `manifest.json` (schema v6 to v12: dbt 1.2 to 1.8 and later) read into the same
//! [`Project`] a project folder gives.
//!
//! The file is parsed into a `serde_json::Value` tree and only what a `Project` holds is
//! read; every other field is ignored. Metrics go through the validation of YAML metrics
//! ([`parse_metric`]): each metric's legacy fields become a YAML node tree without
//! positions. Parsed JSON has no line numbers, so a problem in a node is placed by the file,
//! the node's `unique_id` (the subject) and the field's JSON path within the node.
//!
//! What a manifest lacks: seed data (a seed is kept as a relation, with no CSV) and project
//! `vars` (dbt does not write them; a top-level `vars` object is read if present).

use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::metric::{KNOWN_FIELDS, parse_metric};
use crate::project::{Column, Exposure, Materialization, Model, Project, Relation, Seed, Source, check_references};
use crate::yaml::{Node, NodeValue, Pos};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

/// The `manifest.json` schema versions Strata reads.
pub const MANIFEST_SCHEMA_VERSIONS: RangeInclusive<u32> = 6..=12;

/// Loads a dbt `manifest.json`; returns every problem found when it cannot be loaded.
/// Problems name `path` as given.
pub fn load_manifest_json(path: &Path) -> Result<Project, Diagnostics> {
    let mut reader = Reader {
        file: path.to_path_buf(),
        errors: Vec::new(),
        project: Project::default(),
        owners: HashMap::new(),
    };
    reader.load();
    if reader.errors.is_empty() {
        Ok(reader.project)
    } else {
        Err(Diagnostics(reader.errors))
    }
}

type Object = Map<String, Value>;

struct Reader {
    file: PathBuf,
    errors: Vec<Diagnostic>,
    project: Project,
    /// Who holds each name (`("model", name)` → (unique_id, package)), to settle clashes.
    owners: HashMap<(&'static str, String), (String, String)>,
}

impl Reader {
    fn error(&mut self, subject: Option<String>, field: Option<&str>, message: impl Into<String>) {
        let mut d = Diagnostic::new(self.location(0), message);
        d.subject = subject;
        d.field = field.map(str::to_string);
        self.errors.push(d);
    }

    fn location(&self, line: usize) -> Location {
        Location {
            file: self.file.clone(),
            line,
        }
    }

    fn load(&mut self) {
        let bytes = match std::fs::read(&self.file) {
            Ok(b) => b,
            Err(e) => {
                self.error(None, None, format!("cannot read file: {e}"));
                return;
            }
        };
        let doc: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                let text = e.to_string();
                // serde_json ends its message with " at line L column C"; the line goes
                // into the location.
                let message = match text.rsplit_once(" at line ") {
                    Some((m, _)) if e.line() > 0 => m.to_string(),
                    _ => text,
                };
                self.errors.push(Diagnostic::new(
                    self.location(e.line()),
                    format!("invalid JSON at column {}: {message}", e.column()),
                ));
                return;
            }
        };
        let Some(top) = doc.as_object() else {
            self.error(
                None,
                None,
                format!("a manifest.json must be a JSON object, found {}", kind(&doc)),
            );
            return;
        };
        let Some(version) = self.schema_version(top) else {
            return;
        };
        self.project.root = self.file.parent().map(Path::to_path_buf).unwrap_or_default();
        let nodes = self.section(top, "nodes");
        let sources = self.section(top, "sources");
        let metrics = self.section(top, "metrics");
        let exposures = self.section(top, "exposures");
        let disabled = self.section(top, "disabled");
        self.project.name = project_name(top, nodes, metrics);

        if let Some(vars) = self.section(top, "vars") {
            self.project.vars = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        }
        for (key, node) in nodes.into_iter().flatten() {
            let Some(obj) = self.object(key, node) else { continue };
            if !enabled(obj) {
                continue;
            }
            match obj.get("resource_type").and_then(Value::as_str) {
                Some("model") => self.add_model(key, obj, version),
                Some("seed") => self.add_seed(key, obj),
                _ => {}
            }
        }
        for (key, node) in sources.into_iter().flatten() {
            if let Some(obj) = self.object(key, node)
                && enabled(obj)
            {
                self.add_source(key, obj);
            }
        }
        for (key, node) in metrics.into_iter().flatten() {
            if let Some(obj) = self.object(key, node) {
                self.add_metric(key, obj, false);
            }
        }
        // `disabled`: unique_id → the disabled nodes of that id (a list since v6).
        for (key, entries) in disabled.into_iter().flatten() {
            let items = match entries {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for node in items {
                if let Some(obj) = node.as_object()
                    && obj.get("resource_type").and_then(Value::as_str) == Some("metric")
                {
                    self.add_metric(key, obj, true);
                }
            }
        }
        for (key, node) in exposures.into_iter().flatten() {
            if let Some(obj) = self.object(key, node) {
                self.add_exposure(key, obj);
            }
        }
        let problems = check_references(&self.project, |m| format!("metric '{}'", m.unique_id()));
        self.errors.extend(problems);
    }

    /// The number of `metadata.dbt_schema_version`, when it is one Strata reads.
    fn schema_version(&mut self, top: &Object) -> Option<u32> {
        const FIELD: &str = "metadata.dbt_schema_version";
        let Some(text) = top
            .get("metadata")
            .and_then(|m| m.get("dbt_schema_version"))
            .and_then(Value::as_str)
        else {
            self.error(
                None,
                Some(FIELD),
                "not a dbt manifest.json: it has no metadata.dbt_schema_version",
            );
            return None;
        };
        // "https://schemas.getdbt.com/dbt/manifest/v9.json"
        let mut parts = text.trim_end_matches('/').rsplit('/');
        let last = parts.next().unwrap_or_default();
        let artifact = parts.next();
        if let Some(artifact) = artifact.filter(|a| *a != "manifest") {
            self.error(
                None,
                Some(FIELD),
                format!("this is a dbt '{artifact}' artifact ({text}), not a manifest.json"),
            );
            return None;
        }
        let number = last
            .strip_suffix(".json")
            .unwrap_or(last)
            .strip_prefix('v')
            .and_then(|n| n.parse::<u32>().ok());
        match number {
            Some(n) if MANIFEST_SCHEMA_VERSIONS.contains(&n) => Some(n),
            Some(n) => {
                self.error(
                    None,
                    Some(FIELD),
                    format!(
                        "unsupported manifest schema version v{n} ({text}); Strata reads manifest.json v{} to v{} (dbt 1.2 and later)",
                        MANIFEST_SCHEMA_VERSIONS.start(),
                        MANIFEST_SCHEMA_VERSIONS.end()
                    ),
                );
                None
            }
            None => {
                self.error(
                    None,
                    Some(FIELD),
                    format!(
                        "unrecognized manifest schema version '{text}'; Strata reads manifest.json v{} to v{}, e.g. https://schemas.getdbt.com/dbt/manifest/v9.json",
                        MANIFEST_SCHEMA_VERSIONS.start(),
                        MANIFEST_SCHEMA_VERSIONS.end()
                    ),
                );
                None
            }
        }
    }

    /// A top-level object such as `nodes`; absent or null is none.
    fn section<'a>(&mut self, top: &'a Object, name: &str) -> Option<&'a Object> {
        match top.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                self.error(
                    None,
                    Some(name),
                    format!("must be a JSON object, found {}", kind(other)),
                );
                None
            }
        }
    }

    fn object<'a>(&mut self, key: &str, node: &'a Value) -> Option<&'a Object> {
        match node.as_object() {
            Some(obj) => Some(obj),
            None => {
                self.error(
                    Some(format!("'{key}'")),
                    None,
                    format!("must be a JSON object, found {}", kind(node)),
                );
                None
            }
        }
    }

    /// A string field that must be there.
    fn required(&mut self, subject: &str, obj: &Object, field: &str) -> Option<String> {
        match obj.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::String(_)) => {
                self.error(Some(subject.to_string()), Some(field), "must not be empty");
                None
            }
            None | Some(Value::Null) => {
                self.error(Some(subject.to_string()), Some(field), format!("'{field}' is missing"));
                None
            }
            Some(other) => {
                self.error(
                    Some(subject.to_string()),
                    Some(field),
                    format!("must be a string, found {}", kind(other)),
                );
                None
            }
        }
    }

    /// Whether the node `unique_id` may take `name`: the root project's node wins over a
    /// package's; two nodes of the same standing are an error.
    fn claim(&mut self, what: &'static str, name: &str, unique_id: &str, package: &str) -> bool {
        let root = self.project.name.clone();
        let key = (what, name.to_string());
        match self.owners.get(&key).cloned() {
            None => {}
            Some((_, held_by)) if held_by == root && package != root => return false,
            Some((_, held_by)) if held_by != root && package == root => {}
            Some((first, _)) => {
                self.error(
                    Some(format!("{what} '{unique_id}'")),
                    Some("name"),
                    format!("two {what}s are named '{name}': {first} and {unique_id}"),
                );
                return false;
            }
        }
        self.owners.insert(key, (unique_id.to_string(), package.to_string()));
        true
    }

    fn add_model(&mut self, key: &str, obj: &Object, version: u32) {
        let subject = format!("model '{key}'");
        let Some(name) = self.required(&subject, obj, "name") else {
            return;
        };
        // `raw_sql` until v6 (dbt 1.2), `raw_code` from v7; either is accepted.
        let fields = if version >= 7 {
            ["raw_code", "raw_sql"]
        } else {
            ["raw_sql", "raw_code"]
        };
        let Some(raw_sql) = fields.iter().find_map(|f| obj.get(*f).and_then(Value::as_str)) else {
            self.error(
                Some(subject),
                Some(fields[0]),
                format!("a model needs its SQL in '{}'", fields[0]),
            );
            return;
        };
        if let Some(language) = string(obj, "language")
            && language != "sql"
        {
            self.error(
                Some(subject),
                Some("language"),
                format!("is a {language} model; Strata compiles SQL models only"),
            );
            return;
        }
        let materialized = match config_string(obj, "materialized") {
            None => Materialization::View,
            Some(m) => match Materialization::parse(&m) {
                Some(m) => m,
                None => {
                    self.error(
                        Some(subject),
                        Some("config.materialized"),
                        format!("unknown materialization '{m}' (expected view, table, incremental or ephemeral)"),
                    );
                    return;
                }
            },
        };
        let package = string(obj, "package_name").unwrap_or_else(|| self.project.name.clone());
        if !self.claim("model", &name, key, &package) {
            return;
        }
        let model = Model {
            path: file_path(obj, &name, "sql"),
            raw_sql: raw_sql.to_string(),
            materialized,
            description: description(obj),
            columns: columns(obj),
            relation: relation(obj, &name),
            name: name.clone(),
        };
        self.project.models.insert(name, model);
    }

    fn add_seed(&mut self, key: &str, obj: &Object) {
        let subject = format!("seed '{key}'");
        let Some(name) = self.required(&subject, obj, "name") else {
            return;
        };
        let column_types = match obj.get("config").and_then(|c| c.get("column_types")) {
            Some(Value::Object(types)) => types
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|t| (k.clone(), t.to_string())))
                .collect(),
            _ => IndexMap::new(),
        };
        let package = string(obj, "package_name").unwrap_or_else(|| self.project.name.clone());
        if !self.claim("seed", &name, key, &package) {
            return;
        }
        let seed = Seed {
            path: None,
            column_types,
            relation: relation(obj, &name),
            name: name.clone(),
        };
        self.project.seeds.insert(name, seed);
    }

    fn add_source(&mut self, key: &str, obj: &Object) {
        let subject = format!("source '{key}'");
        let source_name = self.required(&subject, obj, "source_name");
        let name = self.required(&subject, obj, "name");
        let schema = self.required(&subject, obj, "schema");
        let (Some(source_name), Some(name), Some(schema)) = (source_name, name, schema) else {
            return;
        };
        self.project.sources.push(Source {
            identifier: string(obj, "identifier").unwrap_or_else(|| name.clone()),
            database: string(obj, "database"),
            description: description(obj),
            source_name,
            name,
            schema,
        });
    }

    fn add_metric(&mut self, key: &str, obj: &Object, disabled: bool) {
        let unique_id = string(obj, "unique_id").unwrap_or_else(|| key.to_string());
        let subject = format!("metric '{unique_id}'");
        // MetricFlow metrics (dbt 1.6+) have `type_params` instead of the legacy fields.
        if obj.get("type_params").is_some_and(|v| !v.is_null()) {
            let kind = string(obj, "type").unwrap_or_default();
            self.error(
                Some(subject),
                Some("type_params"),
                format!(
                    "is a MetricFlow metric (type '{kind}'); Strata reads metrics of the legacy spec (dbt 1.2 to 1.5) only"
                ),
            );
            return;
        }
        let package = string(obj, "package_name").unwrap_or_else(|| self.project.name.clone());
        let mut metric = match parse_metric(&legacy_metric(obj), &self.file, &package) {
            Ok(m) => m,
            Err(errors) => {
                for mut d in errors {
                    d.subject = Some(subject.clone());
                    self.errors.push(d);
                }
                return;
            }
        };
        if disabled {
            // A disabled copy of an enabled metric (another config of the same node) is not
            // a second metric.
            if self.project.metrics.contains_key(&metric.name) {
                return;
            }
            metric.config.enabled = false;
        }
        let existing = self
            .project
            .metrics
            .get(&metric.name)
            .or(self.project.disabled_metrics.get(&metric.name));
        if let Some(existing) = existing {
            let message = format!(
                "two metrics are named '{}': {} and {unique_id}",
                metric.name,
                existing.unique_id()
            );
            self.error(Some(subject), Some("name"), message);
        } else if metric.config.enabled {
            self.project.metrics.insert(metric.name.clone(), metric);
        } else {
            self.project.disabled_metrics.insert(metric.name.clone(), metric);
        }
    }

    fn add_exposure(&mut self, key: &str, obj: &Object) {
        let subject = format!("exposure '{key}'");
        let Some(name) = self.required(&subject, obj, "name") else {
            return;
        };
        let mut depends_on = Vec::new();
        // `refs`: [["orders"]] or [["package", "orders"]] until v9, then
        // [{"name": "orders", "package": null, "version": null}].
        for r in array(obj, "refs") {
            let parts: Vec<String> = match r {
                Value::Array(parts) => parts.iter().filter_map(|p| p.as_str().map(str::to_string)).collect(),
                Value::Object(o) => ["package", "name"]
                    .iter()
                    .filter_map(|k| o.get(*k).and_then(Value::as_str).map(str::to_string))
                    .collect(),
                Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            };
            if !parts.is_empty() {
                depends_on.push(call("ref", &parts));
            }
        }
        for s in array(obj, "sources") {
            if let Value::Array(parts) = s {
                let parts: Vec<String> = parts.iter().filter_map(|p| p.as_str().map(str::to_string)).collect();
                if !parts.is_empty() {
                    depends_on.push(call("source", &parts));
                }
            }
        }
        for m in array(obj, "metrics") {
            let name = match m {
                Value::Array(parts) => parts.last().and_then(Value::as_str),
                Value::String(s) => Some(s.as_str()),
                _ => None,
            };
            if let Some(name) = name {
                depends_on.push(call("metric", &[name.to_string()]));
            }
        }
        self.project.exposures.push(Exposure {
            name,
            kind: string(obj, "type").unwrap_or_default(),
            description: description(obj),
            depends_on,
        });
    }
}

/// The name of the root project: `metadata.project_name` (v10+), else the package that
/// defines the most models, seeds and metrics.
fn project_name(top: &Object, nodes: Option<&Object>, metrics: Option<&Object>) -> String {
    if let Some(name) = top
        .get("metadata")
        .and_then(|m| m.get("project_name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return name.to_string();
    }
    let mut counts: IndexMap<&str, usize> = IndexMap::new();
    let nodes = nodes
        .into_iter()
        .flatten()
        .filter(|(_, n)| matches!(n.get("resource_type").and_then(Value::as_str), Some("model" | "seed")));
    for (_, node) in nodes.chain(metrics.into_iter().flatten()) {
        if let Some(p) = node.get("package_name").and_then(Value::as_str) {
            *counts.entry(p).or_default() += 1;
        }
    }
    let most = counts.values().copied().max().unwrap_or(0);
    counts
        .into_iter()
        .find(|(_, c)| *c == most)
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

/// A metric's legacy fields as a YAML tree, for [`parse_metric`]. Other fields (`unique_id`,
/// `fqn`, `depends_on`, `refs`, ...) are left out; an empty `description` and a null `meta`
/// count as absent, as dbt writes them for a metric without them.
fn legacy_metric(obj: &Object) -> Node {
    let mut fields = IndexMap::new();
    for field in KNOWN_FIELDS {
        let Some(value) = obj.get(*field) else { continue };
        let absent = match (*field, value) {
            ("description", Value::String(s)) => s.is_empty(),
            ("meta", Value::Null) => true,
            _ => false,
        };
        if !absent {
            fields.insert(field.to_string(), (Pos::default(), Node::from_json(value)));
        }
    }
    Node {
        pos: Pos::default(),
        value: NodeValue::Map(fields),
    }
}

fn enabled(obj: &Object) -> bool {
    obj.get("config")
        .and_then(|c| c.get("enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

fn string(obj: &Object, field: &str) -> Option<String> {
    obj.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn config_string(obj: &Object, field: &str) -> Option<String> {
    obj.get("config")
        .and_then(|c| c.get(field))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn description(obj: &Object) -> Option<String> {
    string(obj, "description")
}

fn array<'a>(obj: &'a Object, field: &str) -> impl Iterator<Item = &'a Value> {
    obj.get(field).and_then(Value::as_array).into_iter().flatten()
}

/// The node's file: `original_file_path` (relative to the project root), else `path`.
fn file_path(obj: &Object, name: &str, ext: &str) -> PathBuf {
    string(obj, "original_file_path")
        .or_else(|| string(obj, "path"))
        .map_or_else(|| PathBuf::from(format!("{name}.{ext}")), PathBuf::from)
}

fn relation(obj: &Object, name: &str) -> Option<Relation> {
    Some(Relation {
        database: string(obj, "database"),
        schema: string(obj, "schema")?,
        identifier: string(obj, "alias").unwrap_or_else(|| name.to_string()),
    })
}

/// `columns`: an object of column name → `{name, description, ...}`.
fn columns(obj: &Object) -> Vec<Column> {
    let Some(Value::Object(cols)) = obj.get("columns") else {
        return Vec::new();
    };
    cols.iter()
        .map(|(key, c)| Column {
            name: c.get("name").and_then(Value::as_str).unwrap_or(key).to_string(),
            description: c.as_object().and_then(description),
        })
        .collect()
}

/// `ref('a', 'b')`, `source('a', 'b')`, `metric('a')`.
fn call(function: &str, args: &[String]) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    format!("{function}({})", args.join(", "))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
