//! Configuration errors: one [`ConfigError`] per problem, each naming the
//! place (file, line, section, key), and [`ConfigErrors`], everything the
//! loader found in one pass so the user can fix all of it at once.
//!
//! Every loading step (env substitution, TOML parsing, `[hekad]`, plugin
//! tables, a plugin's own options) reports through these types.

use std::fmt;
use std::path::PathBuf;

/// What went wrong, without the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The file or directory could not be read.
    #[error("cannot read configuration: {0}")]
    Io(String),
    /// The text is not valid TOML.
    #[error("TOML syntax error: {0}")]
    Syntax(String),
    /// `%ENV[` without a `]` anywhere after it (Heka's text).
    #[error("Missing closing delimiter")]
    EnvMissingDelimiter,
    /// The variable name between `%ENV[` and `]` holds whitespace or
    /// another `%ENV[` (Heka's text, then the offending name).
    #[error("Invalid characters in environmental variable: {0:?}")]
    EnvInvalidChars(String),
    /// A key nobody consumes. `hint` lists the accepted keys when known.
    #[error("unknown key{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    UnknownKey {
        /// serde's "expected one of …" text, if any.
        hint: Option<String>,
    },
    /// A known key holds a value of the wrong TOML type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the key needs ("a string", "a non-negative integer", …).
        expected: &'static str,
        /// What the file holds.
        found: &'static str,
    },
    /// The plugin type has no Input/Splitter/Decoder/Filter/Encoder/Output
    /// suffix (Heka's text, then the type).
    #[error("Unrecognized plugin category for type `{0}`")]
    UnrecognizedCategory(String),
    /// The value has the right type but is out of range or malformed.
    #[error("{0}")]
    Invalid(String),
    /// The section was already defined (in an earlier file).
    #[error("section defined twice (first at {0})")]
    Duplicate(String),
    /// No plugin table at all (Heka's text).
    #[error("Empty configuration, exiting.")]
    Empty,
}

/// One configuration problem and where it is.
///
/// Kept under clippy's large-error limit (section and key are boxed `str`)
/// because plugin factories return it in `Result`s.
///
/// Displays as `FILE:LINE: section `NAME`: unknown key `KEY`` or
/// `FILE:LINE: section `NAME`: key `KEY`: MESSAGE`; parts that do not apply
/// (no line, no section, no key) are left out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// The file (or directory) the problem is in; empty for specs built in code.
    pub file: PathBuf,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column (TOML syntax errors only), 0 when unknown.
    pub column: usize,
    /// The table (`hekad` or the plugin instance name), if any.
    pub section: Option<Box<str>>,
    /// The key, dotted for nested keys (`retries.delay`), if any.
    pub key: Option<Box<str>>,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl ConfigError {
    /// An error in `file` at `line` (0 = unknown) with no section or key yet.
    pub fn new(file: impl Into<PathBuf>, line: usize, kind: ErrorKind) -> ConfigError {
        ConfigError {
            file: file.into(),
            line,
            column: 0,
            section: None,
            key: None,
            kind,
        }
    }

    /// The same error, naming the section.
    pub fn in_section(mut self, section: &str) -> ConfigError {
        self.section = Some(section.into());
        self
    }

    /// The same error, naming the key.
    pub fn at_key(mut self, key: &str) -> ConfigError {
        self.key = Some(key.into());
        self
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if self.file.as_os_str().is_empty() {
            out.push_str("<built-in>");
        } else {
            out.push_str(&self.file.display().to_string());
        }
        if self.line > 0 {
            out.push_str(&format!(":{}", self.line));
            if self.column > 0 {
                out.push_str(&format!(":{}", self.column));
            }
        }
        out.push_str(": ");
        if let Some(section) = &self.section {
            out.push_str(&format!("section `{section}`: "));
        }
        match (&self.key, &self.kind) {
            (Some(key), ErrorKind::UnknownKey { hint }) => {
                out.push_str(&format!("unknown key `{key}`"));
                if let Some(hint) = hint {
                    out.push_str(&format!(" ({hint})"));
                }
            }
            (Some(key), kind) => out.push_str(&format!("key `{key}`: {kind}")),
            (None, kind) => out.push_str(&kind.to_string()),
        }
        out
    }
}

/// Every problem found while loading, in the order found (file by file,
/// top to bottom).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

impl fmt::Display for ConfigErrors {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_file_line_section_and_key() {
        let e = ConfigError::new("/etc/hekad.toml", 12, ErrorKind::UnknownKey { hint: None })
            .in_section("hekad")
            .at_key("maxproc");
        assert_eq!(
            e.to_string(),
            "/etc/hekad.toml:12: section `hekad`: unknown key `maxproc`"
        );
    }

    #[test]
    fn other_kinds_put_the_key_before_the_message() {
        let e = ConfigError::new(
            "a.toml",
            3,
            ErrorKind::WrongType {
                expected: "a boolean",
                found: "a string",
            },
        )
        .in_section("tcp")
        .at_key("can_exit");
        assert_eq!(
            e.to_string(),
            "a.toml:3: section `tcp`: key `can_exit`: expected a boolean, found a string"
        );
    }

    #[test]
    fn missing_parts_are_left_out() {
        let mut e = ConfigError::new("a.toml", 0, ErrorKind::Empty);
        assert_eq!(e.to_string(), "a.toml: Empty configuration, exiting.");
        e.line = 4;
        e.column = 7;
        e.kind = ErrorKind::Syntax("bad".into());
        assert_eq!(e.to_string(), "a.toml:4:7: TOML syntax error: bad");
        e.file = PathBuf::new();
        assert!(e.to_string().starts_with("<built-in>:4:7: "));
    }

    #[test]
    fn errors_display_one_per_line() {
        let errors = ConfigErrors(vec![
            ConfigError::new("a.toml", 1, ErrorKind::EnvMissingDelimiter),
            ConfigError::new("b.toml", 2, ErrorKind::EnvInvalidChars("A B".into())),
        ]);
        let text = errors.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], "a.toml:1: Missing closing delimiter");
        assert_eq!(
            lines[1],
            "b.toml:2: Invalid characters in environmental variable: \"A B\""
        );
    }
}
