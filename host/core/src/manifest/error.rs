//! Manifest errors that point at the file, line and column, with a hint.

use std::fmt;
use std::ops::Range;

/// A problem in a `product.toml`, located in the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The file the manifest came from (or a description such as `<embedded>`).
    pub file: String,
    /// 1-based line of the offending text, if known.
    pub line: usize,
    /// 1-based column (in characters) of the offending text, if known.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The source line, for display.
    pub source_line: String,
    /// How many characters of the source line to underline.
    pub width: usize,
}

impl ManifestError {
    /// An error at `span` (byte offsets) of `source`.
    pub fn at(
        file: &str,
        source: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        let span = span.unwrap_or(0..0);
        let start = span.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        let end = span.end.clamp(start, line_end);
        let width = source[start..end].chars().count().max(1);
        ManifestError {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
            hint,
            source_line: source[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
            width,
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.message)?;
        let gutter = self.line.to_string().len();
        writeln!(
            f,
            "{:gutter$}--> {}:{}:{}",
            "", self.file, self.line, self.column
        )?;
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{} | {}", self.line, self.source_line)?;
        write!(
            f,
            "{:gutter$} | {:pad$}{}",
            "",
            "",
            "^".repeat(self.width),
            pad = self.column - 1
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n{:gutter$} = hint: {hint}", "")?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestError {}

/// All the problems found in one manifest (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestErrors(pub Vec<ManifestError>);

impl ManifestErrors {
    /// The first problem.
    pub fn first(&self) -> Option<&ManifestError> {
        self.0.first()
    }
}

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
                writeln!(f)?;
            }
            write!(f, "error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestErrors {}
