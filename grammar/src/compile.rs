//! From the parsed [`Expr`] to the evaluation plan: every regex compiled
//! once (or replaced by a literal test), every string turned into bytes,
//! constants folded, so evaluation neither allocates nor re-parses.

use memchr::memmem;
use regex::bytes::{Regex, RegexBuilder};

use crate::ast::{Expr, FieldCmp, FieldRef, NumVar, RelOp, StrCmp, StrVar, Test};
use crate::error::{ParseError, ParseErrorKind};
use crate::re2::{self, Literal};

/// How a regex literal is tested.
#[derive(Debug, Clone)]
pub(crate) enum Pattern {
    Regex(Regex),
    Exact(Box<[u8]>),
    Prefix(Box<[u8]>),
    Suffix(Box<[u8]>),
    Contains(Box<memmem::Finder<'static>>),
}

impl Pattern {
    #[inline]
    pub(crate) fn is_match(&self, s: &[u8]) -> bool {
        match self {
            // Go decoded each invalid UTF-8 byte as U+FFFD before matching;
            // a byte-level search sees the same text wherever it is valid, so
            // only a miss on invalid input needs the decoded retry.
            Pattern::Regex(re) => {
                re.is_match(s)
                    || (std::str::from_utf8(s).is_err() && re.is_match(go_decoded(s).as_bytes()))
            }
            Pattern::Exact(lit) => s == &lit[..],
            Pattern::Prefix(lit) => s.starts_with(lit),
            Pattern::Suffix(lit) => s.ends_with(lit),
            Pattern::Contains(finder) => finder.find(s).is_some(),
        }
    }
}

/// `s` as Go's regexp sees it: each byte of an invalid UTF-8 sequence is U+FFFD.
fn go_decoded(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for chunk in s.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
}

/// A test on a string value.
#[derive(Debug, Clone)]
pub(crate) enum StrTest {
    Cmp(RelOp, Box<[u8]>),
    Match(Pattern, bool),
}

impl StrTest {
    #[inline]
    pub(crate) fn eval(&self, s: &[u8]) -> bool {
        match self {
            StrTest::Cmp(rel, lit) => rel.test(s, &lit[..]),
            StrTest::Match(pattern, negate) => pattern.is_match(s) != *negate,
        }
    }
}

/// The right-hand side of a field test, kept by kind because Heka's result
/// depends on the kind of both sides (HEKA-SPEC §2.3).
#[derive(Debug, Clone)]
pub(crate) enum FieldTest {
    Str(StrTest),
    Num(RelOp, f64),
    /// `== TRUE` / `== FALSE`.
    Bool(bool),
    /// `== NIL` (true) / `!= NIL` (false).
    Nil(bool),
}

/// The evaluation plan.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Or(Box<[Node]>),
    And(Box<[Node]>),
    Const(bool),
    Str(StrVar, StrTest),
    Num(NumVar, RelOp, f64),
    Field {
        name: Box<[u8]>,
        field_index: usize,
        array_index: usize,
        test: FieldTest,
    },
}

/// Builds the plan for `expr`; `input` is the source text, for errors.
pub(crate) fn compile(expr: &Expr, input: &str) -> Result<Node, ParseError> {
    Ok(match expr {
        Expr::Const(b) => Node::Const(*b),
        Expr::Test(t) => test(t, input)?,
        Expr::And(terms) => fold(terms, input, true)?,
        Expr::Or(terms) => fold(terms, input, false)?,
    })
}

/// Compiles an n-ary `&&` (`is_and`) or `||`, dropping constants that cannot
/// change the result and collapsing the whole node when one decides it.
fn fold(terms: &[Expr], input: &str, is_and: bool) -> Result<Node, ParseError> {
    let mut nodes = Vec::with_capacity(terms.len());
    let mut decided = false;
    for term in terms {
        // Compile every term, even after the result is decided, so that an
        // invalid regex is an error wherever it stands.
        match compile(term, input)? {
            Node::Const(b) if b == is_and => {}
            Node::Const(_) => decided = true,
            node => nodes.push(node),
        }
    }
    if decided {
        return Ok(Node::Const(!is_and));
    }
    Ok(match nodes.len() {
        0 => Node::Const(is_and),
        1 => nodes.pop().expect("one node"),
        _ if is_and => Node::And(nodes.into()),
        _ => Node::Or(nodes.into()),
    })
}

fn pattern(source: &str, offset: usize, input: &str) -> Result<Pattern, ParseError> {
    if let Some(lit) = re2::literal(source) {
        return Ok(match lit {
            Literal::Exact(b) => Pattern::Exact(b.into()),
            Literal::Prefix(b) => Pattern::Prefix(b.into()),
            Literal::Suffix(b) => Pattern::Suffix(b.into()),
            Literal::Contains(b) => {
                Pattern::Contains(Box::new(memmem::Finder::new(&b).into_owned()))
            }
        });
    }
    RegexBuilder::new(&re2::translate(source))
        .octal(true)
        .build()
        .map(Pattern::Regex)
        .map_err(|e| {
            // The regex crate's message spans several lines; keep its last
            // line, which says what is wrong.
            let text = e.to_string();
            let reason = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or(&text);
            ParseError::new(
                offset,
                ParseErrorKind::InvalidRegex(reason.trim().to_owned()),
                input,
            )
        })
}

fn str_test(cmp: &StrCmp, input: &str) -> Result<StrTest, ParseError> {
    Ok(match cmp {
        StrCmp::Rel(op, s) => StrTest::Cmp(*op, s.as_bytes().into()),
        StrCmp::Regex {
            negated,
            pattern: p,
            offset,
        } => StrTest::Match(pattern(p, *offset, input)?, *negated),
    })
}

fn test(t: &Test, input: &str) -> Result<Node, ParseError> {
    Ok(match t {
        Test::Str(var, cmp) => Node::Str(*var, str_test(cmp, input)?),
        Test::Num(var, op, n) => Node::Num(*var, *op, *n),
        Test::Field(
            FieldRef {
                name,
                field_index,
                array_index,
            },
            cmp,
        ) => Node::Field {
            name: name.as_bytes().into(),
            field_index: *field_index,
            array_index: *array_index,
            test: match cmp {
                FieldCmp::Str(c) => FieldTest::Str(str_test(c, input)?),
                FieldCmp::Num(op, n) => FieldTest::Num(*op, *n),
                FieldCmp::Bool(b) => FieldTest::Bool(*b),
                FieldCmp::Nil { eq } => FieldTest::Nil(*eq),
            },
        },
    })
}
