//! The compiler's one error type: what went wrong, of which kind, and where.

use std::fmt;
use strata_manifest::Location;

/// The kinds of compile error. Front ends map them to their own codes (the proxy to
/// SQLSTATEs), so the set is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A metric that is not defined (or is disabled).
    UnknownMetric,
    /// A `ref` or `source` to something the project does not have.
    UnknownRelation,
    /// A dimension not declared on every metric involved.
    UnknownDimension,
    /// A bad argument to `metrics.calculate` and friends (grain, secondary calculation, ...).
    InvalidArgument,
    /// A metric definition that cannot be used (e.g. in `metrics.develop`).
    InvalidDefinition,
    /// A Jinja syntax or evaluation error.
    Template,
    /// Something Strata refuses to do on purpose, e.g. `run_query`.
    Unsupported,
}

impl ErrorKind {
    /// A short stable name, used as a label and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnknownMetric => "unknown metric",
            ErrorKind::UnknownRelation => "unknown relation",
            ErrorKind::UnknownDimension => "unknown dimension",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::InvalidDefinition => "invalid definition",
            ErrorKind::Template => "template error",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

/// A compile error. Its message names the metric, argument or relation at fault; the
/// location, when known, is the file and line of the dbt-SQL being compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub kind: ErrorKind,
    pub message: String,
    pub location: Option<Location>,
}

impl CompileError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CompileError {
            kind,
            message: message.into(),
            location: None,
        }
    }

    pub(crate) fn argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(loc) = &self.location {
            write!(f, " (in {loc})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileError {}
