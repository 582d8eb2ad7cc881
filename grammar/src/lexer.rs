//! The matcher lexer (logos), with Heka's lexical rules: space and tab between
//! tokens; capitalised names; `Fields[name][fi][ai]` as one token whose name
//! may be any text but `]` (so `Fields[Payload]` names a field, not the
//! header); `'...'` and `"..."` where only a backslash before the same quote
//! is an escape; `/.../` where only `\/` is; numbers over `0-9 . e + -`.
//!
//! Newlines are handled before lexing (see [`crate::parser`]).

use logos::{Lexer, Logos};

use crate::ast::{FieldRef, NumVar, StrVar};
use crate::error::ParseErrorKind;

/// A lexing failure; the parser turns it into a [`crate::ParseError`].
#[derive(Debug, Clone, PartialEq, Default)]
pub enum LexError {
    /// A character that starts no token (a lone `=`, `!`, `&`, `|`, lower-case text...).
    #[default]
    Unexpected,
    /// A specific problem.
    Kind(ParseErrorKind),
}

impl From<ParseErrorKind> for LexError {
    fn from(kind: ParseErrorKind) -> Self {
        LexError::Kind(kind)
    }
}

/// A capitalised name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Name {
    /// A string header.
    Str(StrVar),
    /// A numeric header.
    Num(NumVar),
    /// `TRUE` or `FALSE`.
    Bool(bool),
    /// `NIL`.
    Nil,
}

/// The matcher's tokens.
#[derive(Logos, Debug, Clone, PartialEq)]
#[logos(skip r"[ \t]+")]
#[logos(error = LexError)]
pub enum Token {
    /// `==`
    #[token("==")]
    Eq,
    /// `!=`
    #[token("!=")]
    Ne,
    /// `<`
    #[token("<")]
    Lt,
    /// `<=`
    #[token("<=")]
    Le,
    /// `>`
    #[token(">")]
    Gt,
    /// `>=`
    #[token(">=")]
    Ge,
    /// `=~`
    #[token("=~")]
    Match,
    /// `!~`
    #[token("!~")]
    NotMatch,
    /// `&&`
    #[token("&&")]
    And,
    /// `||`
    #[token("||")]
    Or,
    /// `(`
    #[token("(")]
    Open,
    /// `)`
    #[token(")")]
    Close,
    /// A variable or constant name.
    #[regex("[A-Z][A-Za-z]*", name)]
    Name(Name),
    /// `Fields[name]`, with optional `[field_index]` and `[array_index]`.
    #[token("Fields[", field)]
    Field(FieldRef),
    /// A quoted string.
    #[token("'", |lex| string(lex, '\''))]
    #[token("\"", |lex| string(lex, '"'))]
    Str(String),
    /// A regular expression literal.
    #[token("/", regex)]
    Regex(String),
    /// A number.
    #[regex(r"[0-9.][0-9.e+\-]*", number)]
    Num(f64),
}

fn name(lex: &mut Lexer<'_, Token>) -> Result<Name, LexError> {
    Ok(match lex.slice() {
        "Uuid" => Name::Str(StrVar::Uuid),
        "Type" => Name::Str(StrVar::Type),
        "Logger" => Name::Str(StrVar::Logger),
        "Payload" => Name::Str(StrVar::Payload),
        "EnvVersion" => Name::Str(StrVar::EnvVersion),
        "Hostname" => Name::Str(StrVar::Hostname),
        "Timestamp" => Name::Num(NumVar::Timestamp),
        "Severity" => Name::Num(NumVar::Severity),
        "Pid" => Name::Num(NumVar::Pid),
        "TRUE" => Name::Bool(true),
        "FALSE" => Name::Bool(false),
        "NIL" => Name::Nil,
        "Fields" => {
            return Err(ParseErrorKind::BadField("Fields must be followed by [name]").into());
        }
        other => return Err(ParseErrorKind::UnknownName(other.to_owned()).into()),
    })
}

fn field(lex: &mut Lexer<'_, Token>) -> Result<FieldRef, LexError> {
    let rest = lex.remainder();
    let Some(end) = rest.find(']') else {
        lex.bump(rest.len());
        return Err(ParseErrorKind::BadField("missing ']' after the field name").into());
    };
    if end == 0 {
        lex.bump(1);
        return Err(ParseErrorKind::BadField("empty field name").into());
    }
    let name = rest[..end].to_owned();
    let mut used = end + 1;
    let mut indices = [0usize; 2];
    for index in &mut indices {
        let rest = &lex.remainder()[used..];
        if !rest.starts_with('[') {
            break;
        }
        let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
        let close = rest.as_bytes().get(1 + digits);
        if digits == 0 || close != Some(&b']') {
            lex.bump(used + 1 + digits);
            return Err(
                ParseErrorKind::BadField("an index must be decimal digits in brackets").into(),
            );
        }
        *index = rest[1..1 + digits]
            .parse()
            .map_err(|_| LexError::Kind(ParseErrorKind::BadField("index too large")))?;
        used += digits + 2;
    }
    lex.bump(used);
    Ok(FieldRef {
        name,
        field_index: indices[0],
        array_index: indices[1],
    })
}

/// Heka's string rule: `\` + the opening quote gives the quote; `\` + any
/// other character gives both characters, untouched.
fn string(lex: &mut Lexer<'_, Token>, quote: char) -> Result<String, LexError> {
    let rest = lex.remainder();
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            lex.bump(i + c.len_utf8());
            return Ok(out);
        }
        if c == '\\' {
            match chars.next() {
                Some((_, q)) if q == quote => out.push(q),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => break,
            }
        } else {
            out.push(c);
        }
    }
    lex.bump(rest.len());
    Err(ParseErrorKind::UnterminatedString.into())
}

/// Heka's regex literal rule: only `\/` is unescaped (to `/`); every other
/// escape is left for the regex engine.
fn regex(lex: &mut Lexer<'_, Token>) -> Result<String, LexError> {
    let rest = lex.remainder();
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '/' => {
                lex.bump(i + 1);
                return Ok(out);
            }
            '\\' => match chars.next() {
                Some((_, '/')) => out.push('/'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    lex.bump(rest.len());
    Err(ParseErrorKind::UnterminatedRegex.into())
}

/// Heka logged a malformed number and used 0; we refuse it.
fn number(lex: &mut Lexer<'_, Token>) -> Result<f64, LexError> {
    let text = lex.slice();
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(n),
        _ => Err(ParseErrorKind::MalformedNumber(text.to_owned()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<Result<Token, LexError>> {
        Token::lexer(s).collect()
    }

    #[test]
    fn field_references_take_any_name_and_optional_indices() {
        let f = |name: &str, fi, ai| {
            Ok(Token::Field(FieldRef {
                name: name.into(),
                field_index: fi,
                array_index: ai,
            }))
        };
        assert_eq!(tokens("Fields[Payload]"), [f("Payload", 0, 0)]);
        assert_eq!(tokens("Fields[a b'c][01][2]"), [f("a b'c", 1, 2)]);
        assert_eq!(tokens("Fields[x[y]"), [f("x[y", 0, 0)]);
        assert_eq!(tokens("Fields[x][1]=="), [f("x", 1, 0), Ok(Token::Eq)]);
    }

    #[test]
    fn strings_only_unescape_their_own_quote() {
        assert_eq!(tokens(r"'it\'s'"), [Ok(Token::Str("it's".into()))]);
        assert_eq!(
            tokens(r#""say \"hi\"""#),
            [Ok(Token::Str("say \"hi\"".into()))]
        );
        assert_eq!(tokens(r"'a\nb'"), [Ok(Token::Str(r"a\nb".into()))]);
        assert_eq!(tokens(r"'a\\'"), [Ok(Token::Str(r"a\\".into()))]);
        assert_eq!(tokens(r#"'a\"'"#), [Ok(Token::Str(r#"a\""#.into()))]);
    }

    #[test]
    fn regexes_only_unescape_slashes() {
        assert_eq!(tokens(r"/a\/b\d/"), [Ok(Token::Regex(r"a/b\d".into()))]);
    }

    #[test]
    fn numbers_are_floats_and_malformed_ones_are_errors() {
        assert_eq!(
            tokens("6 .5 1e3 2.5e-1"),
            [
                Ok(Token::Num(6.0)),
                Ok(Token::Num(0.5)),
                Ok(Token::Num(1000.0)),
                Ok(Token::Num(0.25))
            ]
        );
        for bad in ["1.2.3", "6-1", "6e", ".", "1e999"] {
            assert_eq!(
                tokens(bad),
                [Err(LexError::Kind(ParseErrorKind::MalformedNumber(
                    bad.into()
                )))]
            );
        }
    }

    #[test]
    fn lone_operator_characters_do_not_lex() {
        for bad in ["=", "!", "&", "|", "true", "#"] {
            assert!(tokens(bad).iter().all(Result::is_err), "{bad}");
        }
    }
}
