//! Builds a dbt project into a warehouse, as `dbt seed` and `dbt run` would: seeds are
//! loaded as tables, models are compiled and created as views or tables in dependency
//! order. The conformance runner ([`conformance`]) builds each case this way and compares
//! the models with their expected seeds.

pub mod conformance;

use std::collections::HashMap;
use std::fmt;
use strata_compile::Compiler;
use strata_manifest::Materialization;
use strata_warehouse::Warehouse;

/// A failure while building, naming the seed or model and its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// `seed 'x' (seeds/x.csv)` or `model 'y' (models/y.sql)`.
    pub node: String,
    pub message: String,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.node, self.message)
    }
}

impl std::error::Error for BuildError {}

/// What a build did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildReport {
    /// Seeds loaded, with their row counts.
    pub seeds: Vec<(String, u64)>,
    /// Models built, in the order they were built.
    pub models: Vec<(String, Materialization)>,
}

/// Loads every seed and builds every model of the compiler's project into `warehouse`,
/// in the compiler's target schema.
pub fn build(compiler: &Compiler, warehouse: &mut dyn Warehouse) -> Result<BuildReport, BuildError> {
    let project = compiler.project().clone();
    // Raw name: the warehouse quotes it when it loads seeds.
    let target_schema = compiler.target_schema().map(str::to_string);
    if let Some(s) = &target_schema {
        warehouse
            .execute(&format!(
                "create schema if not exists {}",
                strata_compile::quote_ident(compiler.dialect(), s)
            ))
            .map_err(|e| BuildError {
                node: format!("schema {s}"),
                message: e.message,
            })?;
    }
    let mut report = BuildReport::default();
    for seed in project.seeds.values() {
        // A seed read from a manifest.json has no CSV: its table is taken as loaded already.
        let Some(path) = &seed.path else { continue };
        let node = format!("seed '{}' ({})", seed.name, path.display());
        let types: Vec<(String, String)> = seed.column_types.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let rows = strata_warehouse::seed::load_seed(
            warehouse,
            target_schema.as_deref(),
            &seed.name,
            &project.root.join(path),
            &types,
        )
        .map_err(|e| BuildError {
            node,
            message: e.message,
        })?;
        report.seeds.push((seed.name.clone(), rows));
    }

    // Compile everything first: a compile error anywhere stops the build before it writes.
    let mut compiled = HashMap::new();
    for (name, model) in &project.models {
        let c = compiler.compile_model(name).map_err(|e| BuildError {
            node: format!("model '{name}' ({})", model.path.display()),
            message: e.to_string(),
        })?;
        compiled.insert(name.clone(), c);
    }
    let order = build_order(&project, &compiled)?;
    for name in order {
        let model = &project.models[&name];
        let c = &compiled[&name];
        let materialized = c.materialized.unwrap_or(model.materialized);
        let relation = compiler.relation(&name).unwrap_or_else(|| name.clone());
        let ddl = create_statement(warehouse.kind(), &relation, materialized, &c.sql);
        warehouse.execute(&ddl).map_err(|e| BuildError {
            node: format!("model '{name}' ({})", model.path.display()),
            message: format!("the warehouse rejected the compiled SQL: {}", e.message),
        })?;
        report.models.push((name, materialized));
    }
    Ok(report)
}

/// The statement that (re)creates a model.
fn create_statement(kind: &str, relation: &str, materialized: Materialization, sql: &str) -> String {
    let what = match materialized {
        Materialization::Table => "table",
        // An ephemeral model is built as a view, so models that use it can read it.
        Materialization::View | Materialization::Ephemeral => "view",
    };
    let body = sql.trim().trim_end_matches(';');
    if kind == "postgres" {
        // PostgreSQL cannot replace a view whose columns change, or a table with a view; and
        // `drop view` fails on a table (and the reverse), so drop whatever kind is there.
        let literal = relation.replace('\'', "''");
        format!(
            "do $strata$ declare kind \"char\"; begin \
               select relkind into kind from pg_class where oid = to_regclass('{literal}'); \
               if kind = 'v' then execute 'drop view {literal} cascade'; \
               elsif kind = 'm' then execute 'drop materialized view {literal} cascade'; \
               elsif kind is not null then execute 'drop table {literal} cascade'; end if; \
             end $strata$; create {what} {relation} as\n{body}"
        )
    } else {
        format!("create or replace {what} {relation} as\n{body}")
    }
}

/// Models in an order where each comes after the models it reads.
fn build_order(
    project: &strata_manifest::Project,
    compiled: &HashMap<String, strata_compile::Compiled>,
) -> Result<Vec<String>, BuildError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        name: &str,
        project: &strata_manifest::Project,
        compiled: &HashMap<String, strata_compile::Compiled>,
        marks: &mut HashMap<String, Mark>,
        order: &mut Vec<String>,
        path: &mut Vec<String>,
    ) -> Result<(), BuildError> {
        match marks.get(name) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                path.push(name.to_string());
                return Err(BuildError {
                    node: format!("model '{name}' ({})", project.models[name].path.display()),
                    message: format!("models depend on each other in a cycle: {}", path.join(" -> ")),
                });
            }
            None => {}
        }
        marks.insert(name.to_string(), Mark::Visiting);
        path.push(name.to_string());
        for dep in &compiled[name].depends_on {
            if project.models.contains_key(dep) {
                visit(dep, project, compiled, marks, order, path)?;
            }
        }
        path.pop();
        marks.insert(name.to_string(), Mark::Done);
        order.push(name.to_string());
        Ok(())
    }
    let mut marks = HashMap::new();
    let mut order = Vec::new();
    for name in project.models.keys() {
        visit(name, project, compiled, &mut marks, &mut order, &mut Vec::new())?;
    }
    Ok(order)
}
