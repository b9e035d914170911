//! SQL text shared by both warehouses: identifier quoting and column types in DDL.

use crate::ColumnType;

/// `"name"`, with embedded double quotes doubled. Both DuckDB and PostgreSQL accept it.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."table"` or `"table"`.
pub(crate) fn qualified(schema: Option<&str>, table: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(table),
    }
}

/// The query without trailing whitespace and semicolons, ready to be nested in another query.
pub(crate) fn trim_query(sql: &str) -> &str {
    sql.trim_end_matches(|c: char| c == ';' || c.is_whitespace())
}

/// The type a column is created with in PostgreSQL.
pub(crate) fn postgres_type(ty: &ColumnType) -> &str {
    match ty {
        ColumnType::Boolean => "boolean",
        ColumnType::Integer => "bigint",
        ColumnType::Int32 => "integer",
        ColumnType::Float => "double precision",
        ColumnType::Numeric => "numeric",
        ColumnType::Text => "text",
        ColumnType::Date => "date",
        ColumnType::Timestamp => "timestamp",
        ColumnType::Other(name) => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("Order Id"), "\"Order Id\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(qualified(Some("s"), "t"), "\"s\".\"t\"");
        assert_eq!(qualified(None, "t"), "\"t\"");
        assert_eq!(trim_query("select 1 ;\n ; "), "select 1");
    }
}
