//! The parsed form of a matcher. `&&` and `||` chains are n-ary lists, so a
//! long chain is a wide node rather than a deep one (nothing recurses once per
//! term). `Display` prints an expression that parses back to the same tree.

use std::fmt;

/// A string header variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrVar {
    /// `Uuid`, in its hyphenated text form.
    Uuid,
    /// `Type`.
    Type,
    /// `Logger`.
    Logger,
    /// `Payload`.
    Payload,
    /// `EnvVersion`.
    EnvVersion,
    /// `Hostname`.
    Hostname,
}

/// A numeric header variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumVar {
    /// `Timestamp`, nanoseconds.
    Timestamp,
    /// `Severity` (7 when unset).
    Severity,
    /// `Pid`.
    Pid,
}

/// `Fields[name][field_index][array_index]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    /// Field name.
    pub name: String,
    /// Which of the fields with this name (0 is the first).
    pub field_index: usize,
    /// Which value in that field's array.
    pub array_index: usize,
}

/// A relational operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl RelOp {
    /// Applies the operator.
    #[inline(always)]
    pub fn test<T: PartialOrd + ?Sized>(self, a: &T, b: &T) -> bool {
        match self {
            RelOp::Eq => a == b,
            RelOp::Ne => a != b,
            RelOp::Lt => a < b,
            RelOp::Le => a <= b,
            RelOp::Gt => a > b,
            RelOp::Ge => a >= b,
        }
    }
}

/// A test on a string: a comparison with a literal or a regex search.
#[derive(Debug, Clone, PartialEq)]
pub enum StrCmp {
    /// `op 'literal'`, escapes resolved.
    Rel(RelOp, String),
    /// `=~ /pattern/` or, negated, `!~ /pattern/`.
    Regex {
        /// `!~`
        negated: bool,
        /// The pattern in Heka's (Go RE2) syntax, `\/` resolved.
        pattern: String,
        /// Byte offset of the literal in the expression, for errors.
        offset: usize,
    },
}

/// A test on a dynamic field. Which combinations exist is Heka's grammar
/// (HEKA-SPEC §2.2); how they evaluate depends on the field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldCmp {
    /// Against a string or a regex.
    Str(StrCmp),
    /// Against a number.
    Num(RelOp, f64),
    /// `== TRUE` or `== FALSE`.
    Bool(bool),
    /// `== NIL` (`eq`) or `!= NIL`.
    Nil {
        /// `==` rather than `!=`.
        eq: bool,
    },
}

/// One comparison; variables are on the left, literals on the right.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// A string header.
    Str(StrVar, StrCmp),
    /// A numeric header against a number.
    Num(NumVar, RelOp, f64),
    /// A dynamic field.
    Field(FieldRef, FieldCmp),
}

/// A matcher expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// True when any term is (evaluated left to right, short-circuit).
    Or(Vec<Expr>),
    /// True when every term is (left to right, short-circuit).
    And(Vec<Expr>),
    /// `TRUE` or `FALSE`.
    Const(bool),
    /// A comparison.
    Test(Test),
}

impl fmt::Display for StrVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StrVar::Uuid => "Uuid",
            StrVar::Type => "Type",
            StrVar::Logger => "Logger",
            StrVar::Payload => "Payload",
            StrVar::EnvVersion => "EnvVersion",
            StrVar::Hostname => "Hostname",
        })
    }
}

impl fmt::Display for NumVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NumVar::Timestamp => "Timestamp",
            NumVar::Severity => "Severity",
            NumVar::Pid => "Pid",
        })
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Fields[{}][{}][{}]",
            self.name, self.field_index, self.array_index
        )
    }
}

impl fmt::Display for RelOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RelOp::Eq => "==",
            RelOp::Ne => "!=",
            RelOp::Lt => "<",
            RelOp::Le => "<=",
            RelOp::Gt => ">",
            RelOp::Ge => ">=",
        })
    }
}

impl fmt::Display for StrCmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Only the quote itself is escaped in Heka's strings; a backslash
            // before anything else stays as it is.
            StrCmp::Rel(op, s) => write!(f, "{op} '{}'", s.replace('\'', "\\'")),
            StrCmp::Regex {
                negated, pattern, ..
            } => {
                let op = if *negated { "!~" } else { "=~" };
                write!(f, "{op} /{}/", pattern.replace('/', "\\/"))
            }
        }
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Test::Str(var, cmp) => write!(f, "{var} {cmp}"),
            Test::Num(var, op, n) => write!(f, "{var} {op} {n:?}"),
            Test::Field(field, FieldCmp::Str(cmp)) => write!(f, "{field} {cmp}"),
            Test::Field(field, FieldCmp::Num(op, n)) => write!(f, "{field} {op} {n:?}"),
            Test::Field(field, FieldCmp::Bool(b)) => {
                write!(f, "{field} == {}", if *b { "TRUE" } else { "FALSE" })
            }
            Test::Field(field, FieldCmp::Nil { eq }) => {
                write!(f, "{field} {} NIL", if *eq { "==" } else { "!=" })
            }
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, terms: &[Expr], sep: &str| {
            f.write_str("(")?;
            for (i, t) in terms.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                t.fmt(f)?;
            }
            f.write_str(")")
        };
        match self {
            Expr::Or(terms) => list(f, terms, " || "),
            Expr::And(terms) => list(f, terms, " && "),
            Expr::Const(true) => f.write_str("TRUE"),
            Expr::Const(false) => f.write_str("FALSE"),
            Expr::Test(t) => t.fmt(f),
        }
    }
}
