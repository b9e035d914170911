//! Lexical work on SQL text that must not be fooled by quotes and comments: finding dbt-SQL,
//! splitting a simple query into statements, substituting `$n` parameters, and reading a
//! statement's leading keywords.

/// Whether the text holds dbt Jinja (`{{`, `{%` or `{#`) and must be compiled.
pub fn is_dbt_sql(sql: &str) -> bool {
    let b = sql.as_bytes();
    memchr_brace(b)
}

fn memchr_brace(b: &[u8]) -> bool {
    let mut i = 0;
    while let Some(p) = b[i..].iter().position(|&c| c == b'{') {
        let at = i + p;
        if matches!(b.get(at + 1), Some(b'{' | b'%' | b'#')) {
            return true;
        }
        i = at + 1;
    }
    false
}

/// A piece of SQL text as the scanner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// Code outside quotes and comments.
    Code,
    /// A string, quoted identifier, dollar-quoted string or comment: left untouched.
    Opaque,
}

/// Calls `f` with each piece of `sql` and its byte range, in order.
fn scan(sql: &str, mut f: impl FnMut(Piece, usize, usize)) {
    let b = sql.as_bytes();
    let mut i = 0;
    let mut code_start = 0;
    while i < b.len() {
        let opaque_end = match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                let mut j = i + 1;
                loop {
                    match b[j..].iter().position(|&c| c == q) {
                        None => break b.len(),
                        Some(p) => {
                            j += p + 1;
                            if b.get(j) == Some(&q) {
                                j += 1; // doubled quote
                            } else {
                                break j;
                            }
                        }
                    }
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => match b[i..].iter().position(|&c| c == b'\n') {
                Some(p) => i + p + 1,
                None => b.len(),
            },
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // Nested comments, as PostgreSQL allows.
                let mut depth = 1;
                let mut j = i + 2;
                while j < b.len() && depth > 0 {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                j
            }
            b'$' if i == 0 || !is_ident_byte(b[i - 1]) => match dollar_tag(&b[i..]) {
                Some(tag) => {
                    let body = i + tag.len();
                    match find(&b[body..], tag) {
                        Some(p) => body + p + tag.len(),
                        None => b.len(),
                    }
                }
                None => {
                    i += 1;
                    continue;
                }
            },
            _ => {
                i += 1;
                continue;
            }
        };
        if code_start < i {
            f(Piece::Code, code_start, i);
        }
        f(Piece::Opaque, i, opaque_end);
        i = opaque_end;
        code_start = i;
    }
    if code_start < b.len() {
        f(Piece::Code, code_start, b.len());
    }
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// `$$` or `$tag$` at the start of `b` (not `$1`).
fn dollar_tag(b: &[u8]) -> Option<&[u8]> {
    let end = b[1..].iter().position(|&c| c == b'$')? + 1;
    let tag = &b[1..end];
    if tag.first().is_some_and(|c| c.is_ascii_digit()) || !tag.iter().all(|&c| is_ident_byte(c)) {
        return None;
    }
    Some(&b[..=end])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits a simple-query string into statements at `;` outside quotes and comments.
/// Empty statements are dropped.
pub fn split_statements(sql: &str) -> Vec<&str> {
    let mut cuts = Vec::new();
    scan(sql, |piece, start, end| {
        if piece == Piece::Code {
            for (i, c) in sql.as_bytes()[start..end].iter().enumerate() {
                if *c == b';' {
                    cuts.push(start + i);
                }
            }
        }
    });
    let mut out = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain(std::iter::once(sql.len())) {
        let stmt = &sql[from..cut];
        if !only_comments(stmt) {
            out.push(stmt.trim());
        }
        from = (cut + 1).min(sql.len());
    }
    out
}

fn only_comments(sql: &str) -> bool {
    let mut empty = true;
    scan(sql, |piece, start, end| {
        let text = &sql[start..end];
        let is_comment = text.starts_with("--") || text.starts_with("/*");
        if (piece == Piece::Code && !text.trim().is_empty()) || (piece == Piece::Opaque && !is_comment) {
            empty = false;
        }
    });
    empty
}

/// The highest `$n` placeholder in the statement (0 when there is none).
pub fn parameter_count(sql: &str) -> usize {
    let mut max = 0;
    placeholders(sql, |_, _, n| max = max.max(n));
    max
}

fn placeholders(sql: &str, mut f: impl FnMut(usize, usize, usize)) {
    let b = sql.as_bytes();
    scan(sql, |piece, start, end| {
        if piece != Piece::Code {
            return;
        }
        let mut i = start;
        while i < end {
            if b[i] == b'$' && (i == 0 || !is_ident_byte(b[i - 1])) {
                let digits = b[i + 1..end].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits > 0 && digits < 6 {
                    let n: usize = sql[i + 1..i + 1 + digits].parse().unwrap_or(0);
                    if n > 0 {
                        f(i, i + 1 + digits, n);
                    }
                }
                i += 1 + digits;
            } else {
                i += 1;
            }
        }
    });
}

/// For each parameter `$n` (index `n - 1`), the type it is cast to right away (`$1::integer`),
/// lowercased, when it is: what PostgreSQL would infer for it.
pub fn parameter_casts(sql: &str) -> Vec<Option<String>> {
    let mut casts: Vec<Option<String>> = Vec::new();
    placeholders(sql, |_, end, n| {
        if casts.len() < n {
            casts.resize(n, None);
        }
        let rest = sql[end..].trim_start();
        if let Some(after) = rest.strip_prefix("::") {
            let name: String = after
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && casts[n - 1].is_none() {
                casts[n - 1] = Some(name.to_ascii_lowercase());
            }
        }
    });
    casts
}

/// Replaces each `$n` with `values[n - 1]` (SQL literals made by the caller).
pub fn substitute(sql: &str, values: &[String]) -> Result<String, usize> {
    let mut out = String::with_capacity(sql.len() + values.iter().map(String::len).sum::<usize>());
    let mut from = 0;
    let mut missing = None;
    placeholders(sql, |start, end, n| {
        out.push_str(&sql[from..start]);
        match values.get(n - 1) {
            Some(v) => out.push_str(v),
            None => missing = Some(n),
        }
        from = end;
    });
    if let Some(n) = missing {
        return Err(n);
    }
    out.push_str(&sql[from..]);
    Ok(out)
}

/// A text value as a SQL string literal.
pub fn quote_literal(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('\'');
    for c in value.chars() {
        if c == '\'' {
            s.push('\'');
        }
        s.push(c);
    }
    s.push('\'');
    s
}

/// The statement without the whitespace and comments before its first keyword.
pub fn skip_leading_comments(sql: &str) -> &str {
    let mut start = None;
    scan(sql, |piece, from, to| {
        if start.is_some() {
            return;
        }
        let text = &sql[from..to];
        match piece {
            Piece::Code => {
                let trimmed = text.trim_start();
                if !trimmed.is_empty() {
                    start = Some(from + (text.len() - trimmed.len()));
                }
            }
            Piece::Opaque if text.starts_with("--") || text.starts_with("/*") => {}
            Piece::Opaque => start = Some(from),
        }
    });
    start.map_or("", |i| &sql[i..])
}

/// The statement's first `n` keywords, lowercased, skipping comments and parentheses.
pub fn leading_keywords(sql: &str, n: usize) -> Vec<String> {
    let mut words = Vec::new();
    let mut done = false;
    scan(sql, |piece, start, end| {
        if done || piece != Piece::Code {
            return;
        }
        for w in sql[start..end].split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !w.is_empty() {
                words.push(w.to_ascii_lowercase());
                if words.len() == n {
                    done = true;
                    return;
                }
            }
        }
        // Anything else than code (a string) ends the keywords.
    });
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbt_sql_detection() {
        assert!(is_dbt_sql("select * from {{ ref('x') }}"));
        assert!(is_dbt_sql("{% set x = 1 %}select 1"));
        assert!(!is_dbt_sql("select '{}' , '{ a }'"));
        assert!(!is_dbt_sql("select 1"));
    }

    #[test]
    fn splits_outside_quotes_and_comments() {
        assert_eq!(
            split_statements("select 'a;b'; select \"x;\" from t -- c;\n; /* ; */ select $$;$$;"),
            vec!["select 'a;b'", "select \"x;\" from t -- c;", "/* ; */ select $$;$$"]
        );
        assert_eq!(split_statements("  ;  ; -- only a comment"), Vec::<&str>::new());
        assert_eq!(split_statements("select 1"), vec!["select 1"]);
    }

    #[test]
    fn substitutes_parameters_not_in_strings() {
        let sql = "select $1::int + $2, '$1', x$1 from t where a = $10";
        let values: Vec<String> = (1..=10).map(|i| format!("v{i}")).collect();
        assert_eq!(
            substitute(sql, &values).unwrap(),
            "select v1::int + v2, '$1', x$1 from t where a = v10"
        );
        assert_eq!(parameter_count(sql), 10);
        assert_eq!(substitute("select $3", &values[..1]), Err(3));
    }

    #[test]
    fn casts_of_parameters() {
        assert_eq!(
            parameter_casts("select $1::integer + $2, $3 :: TEXT, '$4::int'"),
            vec![Some("integer".into()), None, Some("text".into())]
        );
    }

    #[test]
    fn literal_quoting() {
        assert_eq!(quote_literal("O'Reilly"), "'O''Reilly'");
    }

    #[test]
    fn leading_comments() {
        assert_eq!(skip_leading_comments(" -- é\n/* x */ show é"), "show é");
        assert_eq!(skip_leading_comments("  -- only"), "");
    }

    #[test]
    fn keywords() {
        assert_eq!(
            leading_keywords(" /* hi */ SET  search_path = x", 2),
            vec!["set", "search_path"]
        );
        assert_eq!(leading_keywords("(select 1)", 1), vec!["select"]);
    }
}
