//! Matcher syntax errors: what was expected or what is wrong, at which byte
//! offset, in which expression. Errors never allocate on the hot path because
//! they only happen at compile time, when a config is loaded.

use std::fmt;

/// A `message_matcher` that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the expression where the problem is.
    pub offset: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// The whole expression, for the message.
    pub input: String,
}

impl ParseError {
    pub(crate) fn new(offset: usize, kind: ParseErrorKind, input: &str) -> Self {
        ParseError {
            offset,
            kind,
            input: input.to_owned(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at offset {} in {:?}",
            self.kind, self.offset, self.input
        )
    }
}

impl std::error::Error for ParseError {}

/// The kinds of matcher syntax error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The parser wanted one kind of token and found another.
    #[error("expected {0}")]
    Expected(Expected),
    /// A capitalised word that is not a variable or a constant. Heka took it
    /// for the end of the expression and ignored the rest.
    #[error(
        "unknown name {0:?} (the names are Uuid, Type, Logger, Payload, EnvVersion, \
         Hostname, Timestamp, Severity, Pid, Fields[name], TRUE, FALSE and NIL)"
    )]
    UnknownName(String),
    /// A string literal without its closing quote.
    #[error("unterminated string")]
    UnterminatedString,
    /// A regular expression literal without its closing `/`.
    #[error("unterminated regular expression")]
    UnterminatedRegex,
    /// A regular expression that does not compile.
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
    /// A number such as `1.2.3` or `6e`. Heka logged it and used 0.
    #[error("malformed number {0:?}")]
    MalformedNumber(String),
    /// A `Fields[...]` reference that is not `Fields[name][field_index][array_index]`.
    #[error("malformed field reference: {0}")]
    BadField(&'static str),
    /// Non-blank text after a newline. Heka stopped reading at the first
    /// newline and silently ignored it.
    #[error(
        "text after a newline (Heka ignored everything after the first newline; \
         write the expression on one line)"
    )]
    TextAfterNewline,
    /// Parentheses nested too deeply.
    #[error("parentheses nested deeper than {0} levels")]
    TooDeep(usize),
}

/// What the parser expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected {
    /// A test, `TRUE`, `FALSE` or `(`.
    Expression,
    /// `==`, `!=`, `<`, `<=`, `>`, `>=`, `=~` or `!~`.
    ComparisonOperator,
    /// A quoted string.
    String,
    /// A number.
    Number,
    /// A `/regular expression/`.
    Regex,
    /// What may follow a field and an operator.
    FieldValue,
    /// What may follow a field and `==`.
    FieldEqValue,
    /// What may follow a field and `!=`.
    FieldNeValue,
    /// `&&`, `||`, `)` or the end.
    Continuation,
    /// `&&`, `||` or the end.
    End,
    /// `)`.
    CloseParen,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expected::Expression => "a test, TRUE, FALSE or '('",
            Expected::ComparisonOperator => "a comparison operator",
            Expected::String => "a quoted string",
            Expected::Number => "a number",
            Expected::Regex => "a /regular expression/",
            Expected::FieldValue => "a quoted string or a number",
            Expected::FieldEqValue => "a quoted string, a number, TRUE, FALSE or NIL",
            Expected::FieldNeValue => "a quoted string, a number or NIL",
            Expected::Continuation => "'&&', '||' or ')'",
            Expected::End => "'&&', '||' or the end of the expression",
            Expected::CloseParen => "')'",
        })
    }
}
