//! Heka's message matcher: the `message_matcher` expression of every filter
//! and output, and `heka-cat --match`. The router evaluates one compiled
//! [`Matcher`] per subscriber for every message, so evaluation is allocation
//! free and compilation does all the work once.
//!
//! Matchers evaluate a [`MessageView`], the decoded form the pipeline
//! carries. This crate depends on `heka-proto` only: no actix, no tokio.
//!
//! # Grammar
//! ```text
//! matcher     := or_expr END
//! or_expr     := and_expr { '||' and_expr }
//! and_expr    := primary { '&&' primary }
//! primary     := '(' or_expr ')' | 'TRUE' | 'FALSE' | test
//! test        := STRVAR relop STRING | STRVAR reop REGEX
//!              | NUMVAR relop NUMBER
//!              | FIELD relop (STRING | NUMBER) | FIELD '==' ('TRUE' | 'FALSE')
//!              | FIELD reop REGEX | FIELD ('==' | '!=') 'NIL'
//! relop       := '==' | '!=' | '<' | '<=' | '>' | '>='
//! reop        := '=~' | '!~'
//! STRVAR      := 'Uuid' | 'Type' | 'Logger' | 'Payload' | 'EnvVersion' | 'Hostname'
//! NUMVAR      := 'Timestamp' | 'Severity' | 'Pid'
//! FIELD       := 'Fields[' name ']' [ '[' digits ']' [ '[' digits ']' ] ]
//! STRING      := "'" ... "'" | '"' ... '"'     (only \ + the same quote is an escape)
//! REGEX       := '/' ... '/'                   (only \/ is unescaped; Go RE2 syntax)
//! NUMBER      := [0-9.][0-9.e+-]*              (a float64; no sign, no malformed forms)
//! ```
//! Space and tab separate tokens. `&&` binds tighter than `||`; both
//! short-circuit from the left.
//!
//! # Semantics (Heka's, HEKA-SPEC §2.3)
//! - String headers compare bytewise; unset ones read as `""`; `Uuid` reads
//!   as its hyphenated lowercase text.
//! - `Timestamp`, `Severity` (7 when unset), `Pid` and numeric fields compare
//!   as float64.
//! - A missing field, field index or array index makes every test false
//!   except `== NIL` (so `!=` and `!~` are false too).
//! - A string field against a number is false; a numeric field against a
//!   string or regex is false; a string field `== TRUE` compares with the
//!   text `"TRUE"`; a bool field is `b` for `== TRUE` and `!b` for anything
//!   else. These quirks are kept because configs rely on what they meant.
//! - Regexes search (unanchored) with Go's meaning of `\d`, `\w`, `\s`,
//!   `\b` (ASCII); see [`re2`].
//!
//! Heka's accidental acceptances are refused instead (the README lists them):
//! text after a newline, unknown trailing names, juxtaposed expressions and
//! malformed numbers are errors that name the offset.

#![deny(missing_docs)]

pub mod ast;
mod compile;
pub mod error;
mod eval;
pub mod lexer;
pub mod parser;
pub mod re2;

use std::fmt;
use std::str::FromStr;

use heka_proto::MessageView;

pub use error::{Expected, ParseError, ParseErrorKind};
pub use parser::parse;

/// A compiled `message_matcher`.
#[derive(Debug, Clone)]
pub struct Matcher {
    plan: compile::Node,
    source: String,
}

impl Matcher {
    /// Compiles a matcher expression.
    ///
    /// ```
    /// use heka_grammar::Matcher;
    /// let m = Matcher::compile("Type == 'nginx' && Fields[status] >= 500").unwrap();
    /// assert_eq!(m.as_str(), "Type == 'nginx' && Fields[status] >= 500");
    /// let err = Matcher::compile("Type = 'x'").unwrap_err();
    /// assert_eq!(err.to_string(), r#"expected a comparison operator at offset 5 in "Type = 'x'""#);
    /// ```
    pub fn compile(spec: &str) -> Result<Self, ParseError> {
        let expr = parser::parse(spec)?;
        Ok(Matcher {
            plan: compile::compile(&expr, spec)?,
            source: spec.to_owned(),
        })
    }

    /// Whether `msg` matches.
    #[inline]
    pub fn matches(&self, msg: &MessageView) -> bool {
        self.plan.eval(msg)
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl FromStr for Matcher {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        Matcher::compile(s)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}
