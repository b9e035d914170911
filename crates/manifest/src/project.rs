//! A dbt project's definitions: models, seeds, sources and metrics, read from its folder.
//! (`manifest_json` reads the same [`Project`] from a dbt `manifest.json`.)

use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::metric::{Metric, parse_metric};
use crate::yaml::{self, Node, NodeValue};
use indexmap::IndexMap;
use std::path::{Path, PathBuf};

/// How a model is stored in the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialization {
    View,
    Table,
    /// Not stored; inlined as a CTE where it is referenced.
    Ephemeral,
}

impl Materialization {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "view" => Some(Self::View),
            "table" | "incremental" => Some(Self::Table),
            "ephemeral" => Some(Self::Ephemeral),
            _ => None,
        }
    }
}

/// Where dbt built a node in the warehouse: `database.schema.identifier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub database: Option<String>,
    pub schema: String,
    /// The table or view name: the node's `alias`, or its name.
    pub identifier: String,
}

/// A model: a SELECT in dbt-SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub name: String,
    /// Path relative to the project root, e.g. `models/staging/orders.sql`.
    pub path: PathBuf,
    pub raw_sql: String,
    /// From `dbt_project.yml` and the model's YAML; `{{ config() }}` in the SQL may override it.
    pub materialized: Materialization,
    pub description: Option<String>,
    pub columns: Vec<Column>,
    /// Where dbt built the model, as a `manifest.json` records it; `None` for a project
    /// folder. (The compiler places models in its own target schema either way.)
    pub relation: Option<Relation>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub description: Option<String>,
}

/// A seed: a CSV file loaded as a table named after the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    pub name: String,
    /// The CSV file, relative to the project root. `None` for a seed read from a
    /// `manifest.json`, which carries no data: its table is taken as loaded already (by
    /// `dbt seed`), so `ref()` resolves to it but a build does not load it.
    pub path: Option<PathBuf>,
    /// `column_types` overrides, by column name.
    pub column_types: IndexMap<String, String>,
    /// Where dbt loaded the seed, as a `manifest.json` records it; `None` for a project folder.
    pub relation: Option<Relation>,
}

/// A `sources:` table, reached with `source('source_name', 'name')`.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub source_name: String,
    pub name: String,
    pub database: Option<String>,
    pub schema: String,
    pub identifier: String,
    pub description: Option<String>,
}

/// A `exposures:` entry, kept for the Metadata API.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub name: String,
    pub kind: String,
    pub description: Option<String>,
    pub depends_on: Vec<String>,
}

/// Everything Strata knows about one dbt project. Immutable once loaded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Project {
    pub name: String,
    /// The project folder; for a `manifest.json`, the folder that holds the file.
    pub root: PathBuf,
    /// `vars:` of `dbt_project.yml` (or the `vars` object of a `manifest.json`, if it has one).
    pub vars: IndexMap<String, serde_json::Value>,
    pub models: IndexMap<String, Model>,
    pub seeds: IndexMap<String, Seed>,
    pub sources: Vec<Source>,
    /// Enabled metrics, by name.
    pub metrics: IndexMap<String, Metric>,
    /// Metrics with `config.enabled: false`, by name, so a reference to one can say so.
    pub disabled_metrics: IndexMap<String, Metric>,
    pub exposures: Vec<Exposure>,
}

impl Project {
    pub fn source(&self, source_name: &str, name: &str) -> Option<&Source> {
        self.sources
            .iter()
            .find(|s| s.source_name == source_name && s.name == name)
    }

    /// Whether `ref(name)` can be resolved: a model or a seed.
    pub fn has_node(&self, name: &str) -> bool {
        self.models.contains_key(name) || self.seeds.contains_key(name)
    }
}

/// Loads a dbt project folder; returns every problem found when it cannot be loaded.
pub fn load_project(root: &Path) -> Result<Project, Diagnostics> {
    let mut loader = Loader {
        root: root.to_path_buf(),
        errors: Vec::new(),
        project: Project::default(),
    };
    loader.load();
    if loader.errors.is_empty() {
        Ok(loader.project)
    } else {
        Err(Diagnostics(loader.errors))
    }
}

struct Loader {
    root: PathBuf,
    errors: Vec<Diagnostic>,
    project: Project,
}

/// Config keys that may appear without `+` in `dbt_project.yml`'s `models:`/`seeds:` trees.
const CONFIG_KEYS: &[&str] = &[
    "materialized",
    "enabled",
    "schema",
    "alias",
    "tags",
    "column_types",
    "quote_columns",
    "database",
    "persist_docs",
    "full_refresh",
    "meta",
    "docs",
    "post-hook",
    "pre-hook",
];

impl Loader {
    fn error(&mut self, file: &Path, line: usize, message: impl Into<String>) -> &mut Diagnostic {
        self.errors.push(Diagnostic::new(
            Location {
                file: file.to_path_buf(),
                line,
            },
            message,
        ));
        self.errors.last_mut().expect("just pushed")
    }

    fn read(&mut self, rel: &Path) -> Option<String> {
        match std::fs::read_to_string(self.root.join(rel)) {
            Ok(text) => Some(text),
            Err(e) => {
                self.error(rel, 0, format!("cannot read file: {e}"));
                None
            }
        }
    }

    fn parse_yaml(&mut self, rel: &Path, text: &str) -> Option<Node> {
        match yaml::parse(text) {
            Ok(node) => Some(node),
            Err(e) => {
                self.error(rel, e.pos.line, format!("invalid YAML: {}", e.message));
                None
            }
        }
    }

    fn load(&mut self) {
        self.project.root = self.root.clone();
        let project_file = PathBuf::from("dbt_project.yml");
        if !self.root.join(&project_file).is_file() {
            self.error(
                &project_file,
                0,
                format!("no dbt_project.yml in {}", self.root.display()),
            );
            return;
        }
        let Some(text) = self.read(&project_file) else { return };
        let Some(doc) = self.parse_yaml(&project_file, &text) else {
            return;
        };
        match doc.get("name").and_then(Node::as_str) {
            Some(n) => self.project.name = n.to_string(),
            None => {
                self.error(&project_file, doc.pos.line, "dbt_project.yml needs a 'name'");
                return;
            }
        }
        if let Some(NodeValue::Map(vars)) = doc.get("vars").map(|v| &v.value) {
            for (k, (_, v)) in vars {
                self.project.vars.insert(k.clone(), v.to_json());
            }
        }
        let model_paths = self.paths(&doc, "model-paths", &["models"]);
        let seed_paths = self.paths(&doc, "seed-paths", &["seeds", "data"]);

        let mut yaml_files = Vec::new();
        for dir in &model_paths {
            for rel in walk(&self.root, Path::new(dir)) {
                match rel.extension().and_then(|e| e.to_str()) {
                    Some("sql") => self.add_model(&rel, &doc, dir),
                    Some("yml" | "yaml") => yaml_files.push(rel),
                    _ => {}
                }
            }
        }
        for dir in &seed_paths {
            for rel in walk(&self.root, Path::new(dir)) {
                match rel.extension().and_then(|e| e.to_str()) {
                    Some("csv") => self.add_seed(&rel, &doc, dir),
                    Some("yml" | "yaml") => yaml_files.push(rel),
                    _ => {}
                }
            }
        }
        for rel in yaml_files {
            self.add_properties_file(&rel);
        }
        let problems = check_references(&self.project, |m| format!("metric '{}'", m.name));
        self.errors.extend(problems);
    }

    fn paths(&mut self, doc: &Node, key: &str, default: &[&str]) -> Vec<String> {
        match doc.get(key) {
            Some(Node {
                value: NodeValue::Seq(items),
                ..
            }) => items.iter().filter_map(Node::scalar_text).collect(),
            _ => default.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The configs that apply to a file, from the `models:`/`seeds:` tree of `dbt_project.yml`:
    /// the top, then the project's own name, then each folder below the resource path.
    fn folder_config(&self, doc: &Node, section: &str, rel: &Path, resource_dir: &str) -> IndexMap<String, Node> {
        let mut out = IndexMap::new();
        let Some(mut node) = doc.get(section) else { return out };
        let within = rel.strip_prefix(resource_dir).unwrap_or(rel);
        let mut levels: Vec<String> = vec![self.project.name.clone()];
        levels.extend(
            within
                .parent()
                .into_iter()
                .flat_map(|p| p.iter())
                .map(|c| c.to_string_lossy().into_owned()),
        );
        levels.push(
            within
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let mut level = 0;
        loop {
            if let NodeValue::Map(map) = &node.value {
                for (k, (_, v)) in map {
                    let key = k.strip_prefix('+').unwrap_or(k);
                    if k.starts_with('+') || CONFIG_KEYS.contains(&key) {
                        out.insert(key.to_string(), v.clone());
                    }
                }
            }
            // The first level may name the project or go straight to a folder.
            let next = levels.get(level).and_then(|l| node.get(l)).or_else(|| {
                if level == 0 {
                    levels.get(1).and_then(|l| node.get(l)).inspect(|_| level += 1)
                } else {
                    None
                }
            });
            match next {
                Some(n) => {
                    node = n;
                    level += 1;
                }
                None => break,
            }
        }
        out
    }

    fn add_model(&mut self, rel: &Path, doc: &Node, dir: &str) {
        let Some(raw_sql) = self.read(rel) else { return };
        let name = rel
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let config = self.folder_config(doc, "models", rel, dir);
        let materialized = match config.get("materialized").and_then(Node::as_str) {
            None => Materialization::View,
            Some(m) => match Materialization::parse(m) {
                Some(m) => m,
                None => {
                    self.error(Path::new("dbt_project.yml"), config["materialized"].pos.line, format!(
                        "unknown materialization '{m}' for model '{name}' (expected view, table, incremental or ephemeral)"
                    ));
                    Materialization::View
                }
            },
        };
        if let Some(existing) = self.project.models.get(&name) {
            let first = existing.path.display().to_string();
            self.error(
                rel,
                0,
                format!("two models are named '{name}': {first} and {}", rel.display()),
            );
            return;
        }
        self.project.models.insert(
            name.clone(),
            Model {
                name,
                path: rel.to_path_buf(),
                raw_sql,
                materialized,
                description: None,
                columns: Vec::new(),
                relation: None,
            },
        );
    }

    fn add_seed(&mut self, rel: &Path, doc: &Node, dir: &str) {
        let name = rel
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let config = self.folder_config(doc, "seeds", rel, dir);
        let column_types = config.get("column_types").map(string_map).unwrap_or_default();
        self.project.seeds.insert(
            name.clone(),
            Seed {
                name,
                path: Some(rel.to_path_buf()),
                column_types,
                relation: None,
            },
        );
    }

    fn add_properties_file(&mut self, rel: &Path) {
        let Some(text) = self.read(rel) else { return };
        let Some(doc) = self.parse_yaml(rel, &text) else { return };
        if doc.is_null() {
            return;
        }
        if !matches!(doc.value, NodeValue::Map(_)) {
            self.error(
                rel,
                doc.pos.line,
                format!("a properties file must be a mapping, found {}", doc.kind()),
            );
            return;
        }
        for (section, node) in [
            ("models", doc.get("models")),
            ("seeds", doc.get("seeds")),
            ("sources", doc.get("sources")),
            ("metrics", doc.get("metrics")),
            ("exposures", doc.get("exposures")),
        ] {
            let Some(node) = node else { continue };
            let items = match &node.value {
                NodeValue::Seq(items) => items,
                NodeValue::Null => continue,
                _ => {
                    self.error(
                        rel,
                        node.pos.line,
                        format!("'{section}' must be a list, found {}", node.kind()),
                    );
                    continue;
                }
            };
            for item in items {
                match section {
                    "models" => self.model_properties(rel, item),
                    "seeds" => self.seed_properties(rel, item),
                    "sources" => self.source_properties(rel, item),
                    "metrics" => self.add_metric(rel, item),
                    _ => self.add_exposure(rel, item),
                }
            }
        }
    }

    fn model_properties(&mut self, rel: &Path, item: &Node) {
        let Some(name) = item.get("name").and_then(Node::scalar_text) else {
            self.error(rel, item.pos.line, "a model entry needs a 'name'");
            return;
        };
        let materialized = item
            .get("config")
            .and_then(|c| c.get("materialized"))
            .and_then(Node::as_str)
            .map(str::to_string);
        let columns = columns(item);
        let description = item.get("description").and_then(Node::scalar_text);
        let Some(model) = self.project.models.get_mut(&name) else {
            return;
        };
        model.columns = columns;
        model.description = description;
        if let Some(m) = materialized {
            match Materialization::parse(&m) {
                Some(m) => model.materialized = m,
                None => {
                    self.error(rel, item.pos.line, format!("unknown materialization '{m}'"))
                        .subject = Some(format!("model '{name}'"));
                }
            }
        }
    }

    fn seed_properties(&mut self, rel: &Path, item: &Node) {
        let Some(name) = item.get("name").and_then(Node::scalar_text) else {
            self.error(rel, item.pos.line, "a seed entry needs a 'name'");
            return;
        };
        let types = item
            .get("config")
            .and_then(|c| c.get("column_types"))
            .or_else(|| item.get("column_types"))
            .map(string_map)
            .unwrap_or_default();
        match self.project.seeds.get_mut(&name) {
            Some(seed) => seed.column_types.extend(types),
            None => {
                self.error(
                    rel,
                    item.pos.line,
                    format!("properties given for seed '{name}', but there is no seeds/{name}.csv"),
                );
            }
        }
    }

    fn source_properties(&mut self, rel: &Path, item: &Node) {
        let Some(source_name) = item.get("name").and_then(Node::scalar_text) else {
            self.error(rel, item.pos.line, "a source needs a 'name'");
            return;
        };
        let schema = item
            .get("schema")
            .and_then(Node::scalar_text)
            .unwrap_or_else(|| source_name.clone());
        let database = item.get("database").and_then(Node::scalar_text);
        let Some(Node {
            value: NodeValue::Seq(tables),
            ..
        }) = item.get("tables")
        else {
            self.error(
                rel,
                item.pos.line,
                format!("source '{source_name}' needs a list of 'tables'"),
            );
            return;
        };
        for t in tables {
            let Some(name) = t.get("name").and_then(Node::scalar_text) else {
                self.error(
                    rel,
                    t.pos.line,
                    format!("a table of source '{source_name}' needs a 'name'"),
                );
                continue;
            };
            let identifier = t
                .get("identifier")
                .and_then(Node::scalar_text)
                .unwrap_or_else(|| name.clone());
            let description = t.get("description").and_then(Node::scalar_text);
            self.project.sources.push(Source {
                source_name: source_name.clone(),
                name,
                database: database.clone(),
                schema: schema.clone(),
                identifier,
                description,
            });
        }
    }

    fn add_metric(&mut self, rel: &Path, item: &Node) {
        let package = self.project.name.clone();
        match parse_metric(item, rel, &package) {
            Ok(metric) => {
                let existing = self
                    .project
                    .metrics
                    .get(&metric.name)
                    .or(self.project.disabled_metrics.get(&metric.name));
                if let Some(existing) = existing {
                    let first = existing.location.to_string();
                    let name = metric.name.clone();
                    self.error(
                        rel,
                        item.pos.line,
                        format!("two metrics are named '{name}'; the first is at {first}"),
                    )
                    .subject = Some(format!("metric '{name}'"));
                } else if metric.config.enabled {
                    self.project.metrics.insert(metric.name.clone(), metric);
                } else {
                    self.project.disabled_metrics.insert(metric.name.clone(), metric);
                }
            }
            Err(errors) => self.errors.extend(errors),
        }
    }

    fn add_exposure(&mut self, rel: &Path, item: &Node) {
        let Some(name) = item.get("name").and_then(Node::scalar_text) else {
            self.error(rel, item.pos.line, "an exposure needs a 'name'");
            return;
        };
        let kind = item.get("type").and_then(Node::scalar_text).unwrap_or_default();
        let description = item.get("description").and_then(Node::scalar_text);
        let depends_on = match item.get("depends_on") {
            Some(Node {
                value: NodeValue::Seq(items),
                ..
            }) => items.iter().filter_map(Node::scalar_text).collect(),
            _ => Vec::new(),
        };
        self.project.exposures.push(Exposure {
            name,
            kind,
            description,
            depends_on,
        });
    }
}

/// Checks what metrics refer to: their models and, for derived metrics, other metrics.
/// `subject` names a metric in the problems found (by name, or by `unique_id`).
pub(crate) fn check_references(project: &Project, subject: impl Fn(&Metric) -> String) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for metric in project.metrics.values() {
        let subject = subject(metric);
        if let Some(model) = &metric.model
            && !project.has_node(model)
        {
            problems.push(
                Diagnostic::new(
                    metric.location.clone(),
                    format!("refers to model '{model}', which was not found"),
                )
                .subject(subject.clone())
                .field("model"),
            );
        }
        for r in &metric.metric_refs {
            let message = if project.disabled_metrics.contains_key(r) {
                format!("depends on metric '{r}', which is disabled")
            } else if !project.metrics.contains_key(r) {
                format!("depends on a metric named '{r}' which was not found")
            } else {
                continue;
            };
            problems.push(
                Diagnostic::new(metric.location.clone(), message)
                    .subject(subject.clone())
                    .field("expression"),
            );
        }
    }
    for (name, m) in &project.metrics {
        if let Some(cycle) = find_cycle(project, name)
            && cycle.first() == Some(name)
            && cycle.iter().min() == Some(name)
        {
            problems.push(
                Diagnostic::new(
                    m.location.clone(),
                    format!("derived metrics refer to each other in a cycle: {}", cycle.join(" -> ")),
                )
                .subject(subject(m))
                .field("expression"),
            );
        }
    }
    problems
}

fn find_cycle(project: &Project, start: &str) -> Option<Vec<String>> {
    fn visit(project: &Project, name: &str, start: &str, path: &mut Vec<String>) -> bool {
        let Some(m) = project.metrics.get(name) else {
            return false;
        };
        for r in &m.metric_refs {
            if r == start {
                return true;
            }
            if path.contains(r) {
                continue;
            }
            path.push(r.clone());
            if visit(project, r, start, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![start.to_string()];
    visit(project, start, start, &mut path).then(|| {
        path.push(start.to_string());
        path
    })
}

fn string_map(node: &Node) -> IndexMap<String, String> {
    match &node.value {
        NodeValue::Map(m) => m
            .iter()
            .filter_map(|(k, (_, v))| v.scalar_text().map(|t| (k.clone(), t)))
            .collect(),
        _ => IndexMap::new(),
    }
}

fn columns(item: &Node) -> Vec<Column> {
    match item.get("columns") {
        Some(Node {
            value: NodeValue::Seq(cols),
            ..
        }) => cols
            .iter()
            .filter_map(|c| {
                Some(Column {
                    name: c.get("name")?.scalar_text()?,
                    description: c.get("description").and_then(Node::scalar_text),
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Files below `root/dir`, as paths relative to `root`, sorted for a stable order.
fn walk(root: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&d)) else {
            continue;
        };
        for entry in entries.flatten() {
            let rel = d.join(entry.file_name());
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(rel),
                Ok(_) => out.push(rel),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}
