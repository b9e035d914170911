//! Derived metrics: their expression over other metrics, as SQL.

use crate::error::{CompileError, ErrorKind};
use sqlparser::ast::{BinaryOperator, Expr, visit_expressions_mut};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use std::ops::ControlFlow;
use strata_manifest::{Metric, metric_ref_spans};

/// The expression of a derived metric with each `{{ metric('x') }}` replaced by `value(x)`
/// and every divisor wrapped in `nullif(…, 0)`, so division by zero gives null rather than
/// an error (PostgreSQL) or infinity.
pub(crate) fn derived_sql(metric: &Metric, value: &dyn Fn(&str) -> Option<String>) -> Result<String, CompileError> {
    let expr = &metric.expression;
    let mut out = String::with_capacity(expr.len() + 16);
    let mut last = 0;
    for (start, name, end) in metric_ref_spans(expr) {
        let Some(v) = value(name) else {
            return Err(CompileError::new(
                ErrorKind::UnknownMetric,
                format!(
                    "The derived metric {} depends on a metric named '{name}' which was not found",
                    metric.name
                ),
            ));
        };
        out.push_str(&expr[last..start]);
        out.push_str(&v);
        last = end;
    }
    out.push_str(&expr[last..]);
    if !out.contains('/') {
        return Ok(format!("({out})"));
    }
    Ok(guard_division(&out).unwrap_or_else(|| format!("({out})")))
}

/// Rewrites `a / b` as `a / nullif(b, 0)`; `None` when the expression does not parse.
fn guard_division(sql: &str) -> Option<String> {
    let dialect = GenericDialect {};
    let mut expr = Parser::new(&dialect).try_with_sql(sql).ok()?.parse_expr().ok()?;
    let mut failed = false;
    let _ = visit_expressions_mut(&mut expr, |e| {
        if let Expr::BinaryOp {
            op: BinaryOperator::Divide,
            right,
            ..
        } = e
        {
            match Parser::new(&dialect)
                .try_with_sql(&format!("nullif({right}, 0)"))
                .and_then(|mut p| p.parse_expr())
            {
                Ok(wrapped) => **right = wrapped,
                Err(_) => failed = true,
            }
        }
        ControlFlow::<()>::Continue(())
    });
    (!failed).then(|| format!("({expr})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_every_divisor() {
        assert_eq!(guard_division("a / b").as_deref(), Some("(a / nullif(b, 0))"));
        assert_eq!(
            guard_division("(a + 1) / (b - c) / d").as_deref(),
            Some("((a + 1) / nullif((b - c), 0) / nullif(d, 0))")
        );
        assert_eq!(guard_division("a * 2").as_deref(), Some("(a * 2)"));
    }
}
