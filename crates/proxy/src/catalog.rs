//! What engine mode answers itself rather than asking the warehouse: session settings (`SET`,
//! `SHOW`, `RESET`), transaction control, and the PostgreSQL-only syntax that catalog
//! queries from psql and BI tools use, rewritten for DuckDB (whose `pg_catalog` and
//! `information_schema` answer the rest).

use std::collections::BTreeMap;

use crate::sqltext::{leading_keywords, skip_leading_comments};

/// What a statement is, as far as the session is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Returns rows.
    Rows,
    /// Runs on the warehouse and returns a command tag (`CREATE TABLE`, `INSERT 0 n`, ...).
    Command(String),
    /// `COPY (query) TO STDOUT` or `COPY table TO STDOUT` (psql's `\\copy ... to`): the query's
    /// rows as CopyData, in PostgreSQL's text format or as CSV.
    CopyOut {
        query: String,
        csv: bool,
        header: bool,
    },
    /// `SET name = value` (session-local, answered by Strata).
    Set {
        name: String,
        value: Option<String>,
    },
    /// `SHOW name`.
    Show(String),
    /// BEGIN / COMMIT / ROLLBACK: run on the warehouse, and tracked for ReadyForQuery.
    Transaction(TxCommand),
    /// A statement Strata accepts and ignores (`DISCARD ALL`, `DEALLOCATE`, `LISTEN`...).
    Ignored(String),
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxCommand {
    Begin,
    Commit,
    Rollback,
}

pub fn classify(sql: &str) -> Kind {
    let words = leading_keywords(sql, 4);
    let Some(first) = words.first() else {
        return Kind::Empty;
    };
    match first.as_str() {
        "select" | "with" | "values" | "table" | "from" | "describe" | "summarize" | "explain" | "pragma" | "call" => {
            Kind::Rows
        }
        "show" => {
            let body = skip_leading_comments(sql).trim_end().trim_end_matches(';');
            let rest = body.get(4..).unwrap_or("").trim().to_string();
            let name = match words.get(1).map(String::as_str) {
                Some("transaction") => "transaction_isolation".to_string(),
                _ => rest.trim_matches('"').to_ascii_lowercase(),
            };
            if name == "tables" || name == "databases" || name == "all tables" {
                Kind::Rows // DuckDB's own SHOW TABLES
            } else {
                Kind::Show(name)
            }
        }
        "set" => match words.get(1).map(String::as_str) {
            Some("transaction") | Some("constraints") => Kind::Ignored("SET".into()),
            Some("session") if words.get(2).map(String::as_str) == Some("characteristics") => {
                Kind::Ignored("SET".into())
            }
            Some("session") if words.get(2).map(String::as_str) == Some("authorization") => Kind::Ignored("SET".into()),
            _ => parse_set(sql),
        },
        "reset" => Kind::Set {
            name: words.get(1).cloned().unwrap_or_default(),
            value: None,
        },
        "begin" | "start" => Kind::Transaction(TxCommand::Begin),
        "commit" | "end" => Kind::Transaction(TxCommand::Commit),
        "rollback" | "abort" => Kind::Transaction(TxCommand::Rollback),
        "discard" => Kind::Ignored("DISCARD ALL".into()),
        "deallocate" => Kind::Ignored("DEALLOCATE".into()),
        "listen" => Kind::Ignored("LISTEN".into()),
        "unlisten" => Kind::Ignored("UNLISTEN".into()),
        "insert" | "update" | "delete" => Kind::Command(first.to_ascii_uppercase()),
        "copy" => copy_out(sql).unwrap_or_else(|| Kind::Command("COPY".into())),
        "create" | "drop" | "alter" => {
            let object = words[1..]
                .iter()
                .find(|w| !matches!(w.as_str(), "or" | "replace" | "temp" | "temporary" | "unique" | "if"))
                .map(|w| w.to_ascii_uppercase())
                .unwrap_or_default();
            Kind::Command(format!("{} {object}", first.to_ascii_uppercase()).trim().to_string())
        }
        other => Kind::Command(other.to_ascii_uppercase()),
    }
}

/// `COPY (query) TO STDOUT [WITH] [(FORMAT csv, HEADER ...)]`, or `COPY table [(columns)] TO
/// STDOUT ...`; `None` for any other COPY (to a file, from stdin), which the warehouse refuses.
fn copy_out(sql: &str) -> Option<Kind> {
    let body = skip_leading_comments(sql).trim_end().trim_end_matches(';').trim_end();
    let rest = body.get(4..)?.trim_start();
    let lower = rest.to_ascii_lowercase();
    let at = lower.rfind(" to stdout")?;
    let source = rest[..at].trim();
    let options = &lower[at + " to stdout".len()..];
    let query = if source.starts_with('(') && source.ends_with(')') {
        source[1..source.len() - 1].trim().to_string()
    } else {
        match source.find('(') {
            Some(open) if source.ends_with(')') => {
                format!(
                    "select {} from {}",
                    &source[open + 1..source.len() - 1],
                    source[..open].trim()
                )
            }
            _ => format!("select * from {source}"),
        }
    };
    let csv = options.contains("csv");
    let header = csv && options.contains("header") && !options.contains("header false");
    Some(Kind::CopyOut { query, csv, header })
}

/// `SET [SESSION|LOCAL] name {=|TO} value[, ...]`, and `SET TIME ZONE value`.
fn parse_set(sql: &str) -> Kind {
    let body = skip_leading_comments(sql).trim_end().trim_end_matches(';').trim();
    let mut rest = body.get(3..).unwrap_or("").trim_start();
    for prefix in ["session ", "local "] {
        if rest.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix)) {
            rest = rest[prefix.len()..].trim_start();
        }
    }
    if rest.get(..9).is_some_and(|p| p.eq_ignore_ascii_case("time zone")) {
        return Kind::Set {
            name: "timezone".into(),
            value: Some(unquote(rest[9..].trim())),
        };
    }
    let (name, value) = match rest.find('=') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => match rest.to_ascii_lowercase().find(" to ") {
            Some(i) => (&rest[..i], &rest[i + 4..]),
            None => (rest, ""),
        },
    };
    let value = value.trim();
    Kind::Set {
        name: name.trim().trim_matches('"').to_ascii_lowercase(),
        value: if value.eq_ignore_ascii_case("default") {
            None
        } else {
            Some(unquote(value))
        },
    }
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        v[1..v.len() - 1].replace("''", "'")
    } else {
        v.to_string()
    }
}

/// Session settings, with PostgreSQL's defaults for what clients commonly read.
pub struct Settings {
    values: BTreeMap<String, String>,
    defaults: BTreeMap<String, String>,
}

impl Settings {
    pub fn new(server_version: &str, startup: &[(String, String)]) -> Settings {
        let mut defaults = BTreeMap::new();
        for (k, v) in [
            ("server_version", server_version),
            ("server_encoding", "UTF8"),
            ("client_encoding", "UTF8"),
            ("datestyle", "ISO, MDY"),
            ("timezone", "UTC"),
            ("integer_datetimes", "on"),
            ("standard_conforming_strings", "on"),
            ("intervalstyle", "postgres"),
            ("is_superuser", "off"),
            ("transaction_isolation", "read committed"),
            ("default_transaction_isolation", "read committed"),
            ("transaction_read_only", "off"),
            ("default_transaction_read_only", "off"),
            ("search_path", "\"$user\", public"),
            ("max_identifier_length", "63"),
            ("extra_float_digits", "1"),
            ("application_name", ""),
            ("lc_messages", "C"),
            ("lc_monetary", "C"),
            ("lc_numeric", "C"),
            ("lc_time", "C"),
            ("statement_timeout", "0"),
            ("bytea_output", "hex"),
        ] {
            defaults.insert(k.to_string(), v.to_string());
        }
        let mut values = BTreeMap::new();
        for (k, v) in startup {
            let k = k.to_ascii_lowercase();
            if !matches!(k.as_str(), "user" | "database" | "options" | "replication") {
                values.insert(k, v.clone());
            }
        }
        Settings { values, defaults }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .or_else(|| self.defaults.get(name))
            .map(String::as_str)
    }

    pub fn set(&mut self, name: &str, value: Option<String>) {
        match value {
            Some(v) => {
                self.values.insert(name.to_string(), v);
            }
            None if name == "all" => self.values.clear(),
            None => {
                self.values.remove(name);
            }
        }
    }

    /// Everything, for `SHOW ALL`.
    pub fn all(&self) -> Vec<(String, String)> {
        let mut all = self.defaults.clone();
        all.extend(self.values.clone());
        all.into_iter().collect()
    }

    /// The settings PostgreSQL reports in ParameterStatus at startup.
    pub fn reported(&self) -> Vec<(&'static str, String)> {
        [
            "server_version",
            "server_encoding",
            "client_encoding",
            "DateStyle",
            "TimeZone",
            "integer_datetimes",
            "standard_conforming_strings",
            "IntervalStyle",
            "is_superuser",
            "application_name",
        ]
        .into_iter()
        .map(|k| (k, self.get(&k.to_ascii_lowercase()).unwrap_or("").to_string()))
        .collect()
    }
}

/// Whether a statement reads the PostgreSQL catalog (and needs [`DUCKDB_CATALOG_PRELUDE`]).
pub fn reads_catalog(sql: &str) -> bool {
    sql.contains("pg_") || sql.contains("version()")
}

/// What DuckDB's own `pg_catalog` lacks for psql's `\d` family and JDBC metadata: session
/// (TEMP) views and macros that shadow or add catalog relations and functions. Created once
/// per session, on its first catalog query; unqualified names find TEMP objects first, which
/// is why [`rewrite_for_duckdb`] drops the `pg_catalog.` qualifier.
pub const DUCKDB_CATALOG_PRELUDE: &str = "
CREATE OR REPLACE TEMP VIEW pg_class AS SELECT * REPLACE ([]::VARCHAR[] AS reloptions), false AS relforcerowsecurity FROM pg_catalog.pg_class;
CREATE OR REPLACE TEMP VIEW pg_attribute AS SELECT * REPLACE ((CASE atttypid WHEN 10 THEN 16 WHEN 11 THEN 21 WHEN 12 THEN 21 WHEN 13 THEN 23 WHEN 14 THEN 20 WHEN 15 THEN 1082 WHEN 16 THEN 1083 WHEN 17 THEN 1114 WHEN 18 THEN 1114 WHEN 19 THEN 1114 WHEN 20 THEN 1114 WHEN 21 THEN 1700 WHEN 22 THEN 700 WHEN 23 THEN 701 WHEN 24 THEN 1043 WHEN 25 THEN 1043 WHEN 26 THEN 17 WHEN 27 THEN 1186 WHEN 28 THEN 21 WHEN 29 THEN 23 WHEN 30 THEN 20 WHEN 31 THEN 1700 WHEN 32 THEN 1184 WHEN 34 THEN 1266 WHEN 50 THEN 1700 WHEN 54 THEN 2950 ELSE 1043 END)::BIGINT AS atttypid) FROM pg_catalog.pg_attribute;
CREATE OR REPLACE TEMP MACRO format_type(type_oid, typmod) AS CASE type_oid WHEN 16 THEN 'boolean' WHEN 17 THEN 'bytea' WHEN 20 THEN 'bigint' WHEN 21 THEN 'smallint' WHEN 23 THEN 'integer' WHEN 700 THEN 'real' WHEN 701 THEN 'double precision' WHEN 1043 THEN 'character varying' WHEN 1082 THEN 'date' WHEN 1083 THEN 'time without time zone' WHEN 1114 THEN 'timestamp without time zone' WHEN 1184 THEN 'timestamp with time zone' WHEN 1186 THEN 'interval' WHEN 1266 THEN 'time with time zone' WHEN 1700 THEN 'numeric' WHEN 2950 THEN 'uuid' ELSE 'text' END;
CREATE OR REPLACE TEMP VIEW pg_roles AS SELECT 10::BIGINT AS oid, current_user AS rolname, false AS rolsuper, true AS rolinherit, false AS rolcreaterole, false AS rolcreatedb, true AS rolcanlogin, false AS rolreplication, -1 AS rolconnlimit, NULL::TIMESTAMP AS rolvaliduntil, false AS rolbypassrls, NULL::VARCHAR[] AS rolconfig;
CREATE OR REPLACE TEMP VIEW pg_user AS SELECT current_user AS usename, 10::BIGINT AS usesysid, false AS usesuper;
CREATE OR REPLACE TEMP VIEW pg_inherits AS SELECT 0::BIGINT AS inhrelid, 0::BIGINT AS inhparent, 0 AS inhseqno, false AS inhdetachpending WHERE false;
CREATE OR REPLACE TEMP VIEW pg_policy AS SELECT 0::BIGINT AS oid, '' AS polname, 0::BIGINT AS polrelid, '' AS polcmd, true AS polpermissive, []::BIGINT[] AS polroles, NULL::VARCHAR AS polqual, NULL::VARCHAR AS polwithcheck WHERE false;
CREATE OR REPLACE TEMP VIEW pg_statistic_ext AS SELECT 0::BIGINT AS oid, 0::BIGINT AS stxrelid, '' AS stxname, 0::BIGINT AS stxnamespace, []::INTEGER[] AS stxkeys, []::VARCHAR[] AS stxkind, NULL::INTEGER AS stxstattarget, NULL::VARCHAR AS stxexprs WHERE false;
CREATE OR REPLACE TEMP VIEW pg_publication AS SELECT 0::BIGINT AS oid, '' AS pubname, false AS puballtables, false AS pubviaroot WHERE false;
CREATE OR REPLACE TEMP VIEW pg_publication_rel AS SELECT 0::BIGINT AS oid, 0::BIGINT AS prpubid, 0::BIGINT AS prrelid, NULL::VARCHAR AS prqual, NULL::INTEGER[] AS prattrs WHERE false;
CREATE OR REPLACE TEMP VIEW pg_publication_namespace AS SELECT 0::BIGINT AS oid, 0::BIGINT AS pnpubid, 0::BIGINT AS pnnspid WHERE false;
CREATE OR REPLACE TEMP VIEW pg_trigger AS SELECT 0::BIGINT AS oid, 0::BIGINT AS tgrelid, 0::BIGINT AS tgparentid, '' AS tgname, false AS tgisinternal, '' AS tgenabled WHERE false;
CREATE OR REPLACE TEMP VIEW pg_rewrite AS SELECT 0::BIGINT AS oid, '' AS rulename, 0::BIGINT AS ev_class, '' AS ev_type, '' AS ev_enabled, false AS is_instead WHERE false;
CREATE OR REPLACE TEMP VIEW pg_partitioned_table AS SELECT 0::BIGINT AS partrelid, '' AS partstrat WHERE false;
CREATE OR REPLACE TEMP VIEW pg_foreign_table AS SELECT 0::BIGINT AS ftrelid, 0::BIGINT AS ftserver, NULL::VARCHAR[] AS ftoptions WHERE false;
CREATE OR REPLACE TEMP MACRO pg_get_userbyid(role_oid) AS current_user;
CREATE OR REPLACE TEMP MACRO pg_get_expr(node, rel) AS node::VARCHAR, (node, rel, pretty) AS node::VARCHAR;
CREATE OR REPLACE TEMP MACRO pg_backend_pid() AS 0;
CREATE OR REPLACE TEMP MACRO version() AS 'PostgreSQL 15.0 (Strata semantic layer, engine mode on DuckDB)';
CREATE OR REPLACE TEMP MACRO array_upper(a, d) AS len(a);
CREATE OR REPLACE TEMP MACRO array_lower(a, d) AS 1;
CREATE OR REPLACE TEMP MACRO pg_get_statisticsobjdef_columns(o) AS '';
CREATE OR REPLACE TEMP MACRO pg_get_partkeydef(o) AS NULL::VARCHAR;
CREATE OR REPLACE TEMP MACRO pg_get_triggerdef(o) AS '', (o, pretty) AS '';
CREATE OR REPLACE TEMP MACRO pg_get_ruledef(o) AS '', (o, pretty) AS '';
CREATE OR REPLACE TEMP MACRO pg_get_function_result(o) AS '';
CREATE OR REPLACE TEMP MACRO pg_get_function_arguments(o) AS '';
CREATE OR REPLACE TEMP MACRO pg_encoding_to_char(encoding) AS 'UTF8';
CREATE OR REPLACE TEMP MACRO pg_get_viewdef(v) AS (SELECT sql FROM duckdb_views() d WHERE d.view_oid = v), (v, pretty) AS (SELECT sql FROM duckdb_views() d WHERE d.view_oid = v);
CREATE OR REPLACE TEMP MACRO pg_relation_is_publishable(rel) AS false;
";

/// PostgreSQL-only syntax in catalog queries, in DuckDB's terms. Only queries that mention
/// `pg_catalog` are touched, and only outside string literals where it matters.
pub fn rewrite_for_duckdb(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains("pg_catalog") && !sql.contains("::reg") {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut s = regclass_literals(sql);
    for (from, to) in [
        ("OPERATOR(pg_catalog.~)", "~"),
        ("OPERATOR(pg_catalog.!~)", "!~"),
        ("OPERATOR(pg_catalog.=)", "="),
        ("COLLATE pg_catalog.default", ""),
        ("::pg_catalog.regclass", "::BIGINT"),
        ("::regclass", "::BIGINT"),
        ("::pg_catalog.regtype", "::BIGINT"),
        ("::regtype", "::BIGINT"),
        ("::regproc", "::BIGINT"),
        ("::pg_catalog.regnamespace", "::BIGINT"),
        ("::regnamespace", "::BIGINT"),
        ("::pg_catalog.regrole", "::BIGINT"),
        ("::regrole", "::BIGINT"),
        ("::pg_catalog.text", "::VARCHAR"),
        ("pg_catalog.", ""),
    ] {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    std::borrow::Cow::Owned(s)
}

/// `'name'::regclass` as the relation's oid (0 when there is none): DuckDB has no `regclass`.
fn regclass_literals(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = ["'::regclass", "'::pg_catalog.regclass"]
        .iter()
        .filter_map(|m| rest.find(m).map(|i| (i, m.len())))
        .min()
    {
        let (end_quote, marker_len) = at;
        match rest[..end_quote].rfind('\'') {
            Some(open) if !rest[open + 1..end_quote].contains('\'') => {
                let name = &rest[open + 1..end_quote];
                let name = name.rsplit('.').next().unwrap_or(name).trim_matches('"');
                out.push_str(&rest[..open]);
                out.push_str(&format!(
                    "(SELECT coalesce(max(oid), 0) FROM pg_catalog.pg_class WHERE relname = '{name}')"
                ));
            }
            _ => out.push_str(&rest[..end_quote + marker_len]),
        }
        rest = &rest[end_quote + marker_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statements() {
        assert_eq!(classify("select 1"), Kind::Rows);
        assert_eq!(classify("  WITH x as (select 1) select * from x"), Kind::Rows);
        assert_eq!(
            classify("SET extra_float_digits = 3"),
            Kind::Set {
                name: "extra_float_digits".into(),
                value: Some("3".into())
            }
        );
        assert_eq!(
            classify("set session time zone 'UTC'"),
            Kind::Set {
                name: "timezone".into(),
                value: Some("UTC".into())
            }
        );
        assert_eq!(
            classify("SET application_name TO 'psql'"),
            Kind::Set {
                name: "application_name".into(),
                value: Some("psql".into())
            }
        );
        assert_eq!(
            classify("SHOW TRANSACTION ISOLATION LEVEL"),
            Kind::Show("transaction_isolation".into())
        );
        assert_eq!(classify("show server_version"), Kind::Show("server_version".into()));
        assert_eq!(classify("BEGIN"), Kind::Transaction(TxCommand::Begin));
        assert_eq!(
            classify("create or replace view v as select 1"),
            Kind::Command("CREATE VIEW".into())
        );
        assert_eq!(classify("insert into t values (1)"), Kind::Command("INSERT".into()));
        assert_eq!(classify(" -- nothing\n"), Kind::Empty);
        assert_eq!(
            classify("COPY ( select 1 as a ) TO STDOUT csv header"),
            Kind::CopyOut {
                query: "select 1 as a".into(),
                csv: true,
                header: true
            }
        );
        assert_eq!(
            classify("copy orders (order_id, status) to stdout"),
            Kind::CopyOut {
                query: "select order_id, status from orders".into(),
                csv: false,
                header: false
            }
        );
        assert_eq!(classify("copy orders to '/tmp/x.csv'"), Kind::Command("COPY".into()));
        assert_eq!(classify("/* é */ show search_path"), Kind::Show("search_path".into()));
        assert_eq!(
            classify("-- ü\nset x = 1"),
            Kind::Set {
                name: "x".into(),
                value: Some("1".into())
            }
        );
    }

    #[test]
    fn regclass_literals_become_oid_lookups() {
        assert_eq!(
            regclass_literals("d.classoid = 'pg_class'::regclass and x = 'main.orders'::pg_catalog.regclass"),
            "d.classoid = (SELECT coalesce(max(oid), 0) FROM pg_catalog.pg_class WHERE relname = 'pg_class') and x = (SELECT coalesce(max(oid), 0) FROM pg_catalog.pg_class WHERE relname = 'orders')"
        );
    }

    #[test]
    fn settings_defaults_and_startup_values() {
        let mut s = Settings::new("15.0", &[("application_name".into(), "psql".into())]);
        assert_eq!(s.get("application_name"), Some("psql"));
        assert_eq!(s.get("server_version"), Some("15.0"));
        s.set("timezone", Some("Europe/Paris".into()));
        assert_eq!(s.get("timezone"), Some("Europe/Paris"));
        s.set("timezone", None);
        assert_eq!(s.get("timezone"), Some("UTC"));
    }
}
