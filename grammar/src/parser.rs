//! The matcher parser: precedence climbing with `&&` above `||`, both
//! left-associative and short-circuit, variables on the left and literals on
//! the right (HEKA-SPEC §2.2).
//!
//! Where Heka accepted text by accident, we refuse it with an error (the
//! README's "Matcher compatibility decisions" lists each case): text after a
//! newline, a trailing unknown name, juxtaposed expressions, malformed
//! numbers. A matcher that compiles here means what it meant in Heka.

use logos::Logos;

use crate::ast::{Expr, FieldCmp, FieldRef, NumVar, RelOp, StrCmp, StrVar, Test};
use crate::error::{Expected, ParseError, ParseErrorKind};
use crate::lexer::{LexError, Name, Token};

/// How deeply parentheses may nest; deeper input is an error, not a stack overflow.
pub const MAX_DEPTH: usize = 64;

type Spanned = (Result<Token, LexError>, usize);

struct Parser<'a> {
    input: &'a str,
    lexer: logos::Lexer<'a, Token>,
    peeked: Option<Option<Spanned>>,
    depth: usize,
}

/// Parses a matcher expression.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    // Heka's lexer turned the first newline into the end of input. A newline
    // followed only by blanks (as in a TOML multi-line string) changes
    // nothing; anything else after it would be silently ignored by Heka, so
    // we refuse it rather than give it a meaning Heka never gave it.
    let mut text = input;
    if let Some(nl) = input.find('\n') {
        let rest = &input[nl + 1..];
        if let Some(extra) = rest.find(|c: char| !matches!(c, ' ' | '\t' | '\n')) {
            return Err(ParseError::new(
                nl + 1 + extra,
                ParseErrorKind::TextAfterNewline,
                input,
            ));
        }
        text = &input[..nl];
    }
    let mut p = Parser {
        input,
        lexer: Token::lexer(text),
        peeked: None,
        depth: 0,
    };
    let expr = p.or()?;
    match p.next() {
        None => Ok(expr),
        Some(t) => Err(p.error_at(t, Expected::End)),
    }
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Option<Spanned> {
        if let Some(t) = self.peeked.take() {
            return t;
        }
        let token = self.lexer.next()?;
        Some((token, self.lexer.span().start))
    }

    fn peek(&mut self) -> Option<&Result<Token, LexError>> {
        if self.peeked.is_none() {
            let t = self.next();
            self.peeked = Some(t);
        }
        self.peeked
            .as_ref()
            .and_then(|t| t.as_ref())
            .map(|(t, _)| t)
    }

    fn end_offset(&self) -> usize {
        self.lexer.source().len()
    }

    /// The error for finding `found` where `expected` was wanted: a lexing
    /// problem with a cause of its own is reported as that cause.
    fn error_at(&self, found: Spanned, expected: Expected) -> ParseError {
        let (token, offset) = found;
        let kind = match token {
            Err(LexError::Kind(kind)) => kind,
            _ => ParseErrorKind::Expected(expected),
        };
        ParseError::new(offset, kind, self.input)
    }

    fn expect_some(&mut self, expected: Expected) -> Result<Spanned, ParseError> {
        self.next().ok_or_else(|| {
            ParseError::new(
                self.end_offset(),
                ParseErrorKind::Expected(expected),
                self.input,
            )
        })
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut terms = vec![self.and()?];
        while matches!(self.peek(), Some(Ok(Token::Or))) {
            self.next();
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            Expr::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut terms = vec![self.primary()?];
        while matches!(self.peek(), Some(Ok(Token::And))) {
            self.next();
            terms.push(self.primary()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            Expr::And(terms)
        })
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let (token, offset) = self.expect_some(Expected::Expression)?;
        let var = match token {
            Ok(Token::Open) => {
                if self.depth == MAX_DEPTH {
                    return Err(ParseError::new(
                        offset,
                        ParseErrorKind::TooDeep(MAX_DEPTH),
                        self.input,
                    ));
                }
                self.depth += 1;
                let inner = self.or()?;
                self.depth -= 1;
                let close = self.expect_some(Expected::CloseParen)?;
                if !matches!(close.0, Ok(Token::Close)) {
                    return Err(self.error_at(close, Expected::Continuation));
                }
                return Ok(inner);
            }
            Ok(Token::Name(Name::Bool(b))) => return Ok(Expr::Const(b)),
            Ok(Token::Name(Name::Str(v))) => Var::Str(v),
            Ok(Token::Name(Name::Num(v))) => Var::Num(v),
            Ok(Token::Field(f)) => Var::Field(f),
            other => return Err(self.error_at((other, offset), Expected::Expression)),
        };
        let op_token = self.expect_some(Expected::ComparisonOperator)?;
        let op = match op_token.0 {
            Ok(Token::Eq) => Op::Rel(RelOp::Eq),
            Ok(Token::Ne) => Op::Rel(RelOp::Ne),
            Ok(Token::Lt) => Op::Rel(RelOp::Lt),
            Ok(Token::Le) => Op::Rel(RelOp::Le),
            Ok(Token::Gt) => Op::Rel(RelOp::Gt),
            Ok(Token::Ge) => Op::Rel(RelOp::Ge),
            Ok(Token::Match) => Op::Match { negated: false },
            Ok(Token::NotMatch) => Op::Match { negated: true },
            _ => return Err(self.error_at(op_token, Expected::ComparisonOperator)),
        };
        let expected = expected_value(&var, op);
        let (token, value_offset) = self.expect_some(expected)?;
        let value = match token {
            Ok(Token::Str(s)) => Value::Str(s),
            Ok(Token::Num(n)) => Value::Num(n),
            Ok(Token::Regex(pattern)) => Value::Regex(pattern),
            Ok(Token::Name(Name::Bool(b))) => Value::Bool(b),
            Ok(Token::Name(Name::Nil)) => Value::Nil,
            other => return Err(self.error_at((other, value_offset), expected)),
        };
        match test(var, op, value, value_offset) {
            Some(test) => Ok(Expr::Test(test)),
            None => Err(ParseError::new(
                value_offset,
                ParseErrorKind::Expected(expected),
                self.input,
            )),
        }
    }
}

/// The left-hand side, before the operator says which test it is.
enum Var {
    Str(StrVar),
    Num(NumVar),
    Field(FieldRef),
}

#[derive(Clone, Copy)]
enum Op {
    Rel(RelOp),
    Match { negated: bool },
}

enum Value {
    Str(String),
    Num(f64),
    Regex(String),
    Bool(bool),
    Nil,
}

/// The combinations of Heka's grammar (HEKA-SPEC §2.2); `None` for any other.
fn test(var: Var, op: Op, value: Value, offset: usize) -> Option<Test> {
    let str_cmp = |op: Op, value: Value| match (op, value) {
        (Op::Rel(rel), Value::Str(s)) => Some(StrCmp::Rel(rel, s)),
        (Op::Match { negated }, Value::Regex(pattern)) => Some(StrCmp::Regex {
            negated,
            pattern,
            offset,
        }),
        _ => None,
    };
    Some(match (var, op, value) {
        (Var::Str(v), op, value) => Test::Str(v, str_cmp(op, value)?),
        (Var::Num(v), Op::Rel(rel), Value::Num(n)) => Test::Num(v, rel, n),
        (Var::Num(_), ..) => return None,
        (Var::Field(f), Op::Rel(rel), Value::Num(n)) => Test::Field(f, FieldCmp::Num(rel, n)),
        (Var::Field(f), Op::Rel(RelOp::Eq), Value::Bool(b)) => Test::Field(f, FieldCmp::Bool(b)),
        (Var::Field(f), Op::Rel(RelOp::Eq), Value::Nil) => {
            Test::Field(f, FieldCmp::Nil { eq: true })
        }
        (Var::Field(f), Op::Rel(RelOp::Ne), Value::Nil) => {
            Test::Field(f, FieldCmp::Nil { eq: false })
        }
        (Var::Field(f), op, value) => Test::Field(f, FieldCmp::Str(str_cmp(op, value)?)),
    })
}

fn expected_value(var: &Var, op: Op) -> Expected {
    match (var, op) {
        (_, Op::Match { .. }) => Expected::Regex,
        (Var::Str(_), _) => Expected::String,
        (Var::Num(_), _) => Expected::Number,
        (Var::Field(_), Op::Rel(RelOp::Eq)) => Expected::FieldEqValue,
        (Var::Field(_), Op::Rel(RelOp::Ne)) => Expected::FieldNeValue,
        (Var::Field(_), _) => Expected::FieldValue,
    }
}
