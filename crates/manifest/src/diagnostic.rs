//! Problems found in a dbt project, each with the place it was found.

use std::fmt;
use std::path::PathBuf;

/// Where a problem is: the file (relative to the project root), line, and the metric,
/// model or field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}", self.file.display(), self.line)
        } else {
            write!(f, "{}", self.file.display())
        }
    }
}

/// One problem in a project's definitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Location,
    /// The metric or model the problem belongs to, when there is one.
    pub subject: Option<String>,
    /// The field the problem is in (`window.period`, `time_grains`, ...).
    pub field: Option<String>,
    pub message: String,
}

impl Diagnostic {
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            location,
            subject: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        match (&self.subject, &self.field) {
            (Some(s), Some(field)) => write!(f, "{s}, field '{field}': ")?,
            (Some(s), None) => write!(f, "{s}: ")?,
            (None, Some(field)) => write!(f, "field '{field}': ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

/// Every problem found while loading a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
