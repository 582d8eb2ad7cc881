//! Heka's regular expressions are Go RE2 syntax. The `regex` crate reads
//! nearly the same language, but a few spellings mean something else, and a
//! matcher must keep its Heka meaning. This module rewrites those spellings
//! before compiling, and finds the literal patterns that need no regex engine
//! at all (Heka's `^literal` / `literal$` fast paths, extended to exact and
//! substring matches; results are identical, only faster).
//!
//! Rewritten, because the regex crate would give them another meaning:
//! - `\d \D \w \W \s \S`: ASCII classes in Go, Unicode classes in Rust.
//! - `\b \B`: ASCII word boundaries in Go, Unicode ones in Rust.
//! - inside `[...]`: `[` (not `[:`), `&&`, `--` and `~~` are literal in Go but
//!   nested classes and set operations in Rust.
//! - `\Q...\E` quoting, which Go supports and the regex crate does not.
//!
//! Octal escapes (`\123`) are enabled on the builder, as Go accepts them.

/// Go's `\d`, `\w` and `\s` as class bodies.
const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\x0C\r ";

/// Rewrites a Go RE2 pattern into the regex crate's syntax with the same meaning.
pub fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    // Inside a character class; `class_start` is true right after `[` or `[^`,
    // where a `]` is a literal.
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_class_start = std::mem::take(&mut class_start);
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                match (e, in_class) {
                    ('Q', _) => {
                        let mut quoted = String::new();
                        while let Some(q) = chars.next() {
                            if q == '\\' && chars.peek() == Some(&'E') {
                                chars.next();
                                break;
                            }
                            quoted.push(q);
                        }
                        for q in quoted.chars() {
                            push_literal(&mut out, q);
                        }
                    }
                    ('d', false) => out.push_str("[0-9]"),
                    ('D', false) => out.push_str("[^0-9]"),
                    ('w', false) => out.push_str("[0-9A-Za-z_]"),
                    ('W', false) => out.push_str("[^0-9A-Za-z_]"),
                    ('s', false) => out.push_str(r"[\t\n\x0C\r ]"),
                    ('S', false) => out.push_str(r"[^\t\n\x0C\r ]"),
                    ('b', false) => out.push_str(r"(?-u:\b)"),
                    ('B', false) => out.push_str(r"(?-u:\B)"),
                    ('d', true) => out.push_str(DIGIT),
                    ('w', true) => out.push_str(WORD),
                    ('s', true) => out.push_str(SPACE),
                    ('D', true) => out.push_str("[^0-9]"),
                    ('W', true) => out.push_str("[^0-9A-Za-z_]"),
                    ('S', true) => out.push_str(r"[^\t\n\x0C\r ]"),
                    (e, _) => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                out.push('[');
                in_class = true;
                class_start = true;
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().expect("peeked"));
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // A POSIX class such as `[:alpha:]`: copy it whole.
                out.push('[');
                for p in chars.by_ref() {
                    out.push(p);
                    if p == ']' {
                        break;
                    }
                }
            }
            ']' if in_class && !at_class_start => {
                out.push(']');
                in_class = false;
            }
            // A single `-` is a range in both dialects; the second of `--`
            // (set difference in Rust) is escaped so Go's range stays a range.
            '-' if in_class && !out.ends_with('-') => out.push('-'),
            '[' | '&' | '~' | '-' if in_class => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn push_literal(out: &mut String, c: char) {
    if regex_syntax_meta(c) {
        out.push('\\');
    }
    out.push(c);
}

fn regex_syntax_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

/// A pattern that is a literal test, so no regex engine is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `^lit$`
    Exact(Vec<u8>),
    /// `^lit`
    Prefix(Vec<u8>),
    /// `lit$`
    Suffix(Vec<u8>),
    /// `lit`
    Contains(Vec<u8>),
}

/// The literal test equivalent to `pattern`, if it is one: characters other
/// than metacharacters, or metacharacters escaped with `\`, optionally
/// anchored at the start and/or the end.
pub fn literal(pattern: &str) -> Option<Literal> {
    let (anchored_start, body) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let mut text = String::with_capacity(body.len());
    let mut chars = body.chars();
    let mut anchored_end = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => text.push(e),
                _ => return None,
            },
            '$' if chars.as_str().is_empty() => anchored_end = true,
            '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => {
                return None;
            }
            c => text.push(c),
        }
    }
    let bytes = text.into_bytes();
    Some(match (anchored_start, anchored_end) {
        (true, true) => Literal::Exact(bytes),
        (true, false) => Literal::Prefix(bytes),
        (false, true) => Literal::Suffix(bytes),
        (false, false) => Literal::Contains(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_become_ascii() {
        assert_eq!(translate(r"\d+"), "[0-9]+");
        assert_eq!(translate(r"[\w.]"), "[0-9A-Za-z_.]");
        assert_eq!(translate(r"[^\D]"), "[^[^0-9]]");
        assert_eq!(translate(r"\bx\B"), r"(?-u:\b)x(?-u:\B)");
        assert_eq!(translate(r"\\d"), r"\\d");
    }

    #[test]
    fn class_punctuation_stays_literal() {
        assert_eq!(translate("[a&&b]"), r"[a\&\&b]");
        assert_eq!(translate("[[]"), r"[\[]");
        assert_eq!(translate("[]a]"), "[]a]");
        assert_eq!(translate("[[:alpha:]-]"), r"[[:alpha:]-]");
        assert_eq!(translate("[a-z]"), "[a-z]");
        assert_eq!(translate("[~~]"), r"[\~\~]");
        // Go reads `+--` as the range '+' to '-': only the second dash,
        // which Rust would take for set difference, is escaped.
        assert_eq!(translate("[+--]"), r"[+-\-]");
        assert_eq!(translate(r"[\--]"), r"[\-\-]");
    }

    #[test]
    fn quoted_text_is_escaped() {
        assert_eq!(translate(r"\Qa.b*\Ec"), r"a\.b\*c");
        assert_eq!(translate(r"\Q(x"), r"\(x");
    }

    #[test]
    fn literal_patterns_are_recognised() {
        assert_eq!(literal("^abc"), Some(Literal::Prefix(b"abc".to_vec())));
        assert_eq!(literal("abc$"), Some(Literal::Suffix(b"abc".to_vec())));
        assert_eq!(literal("^abc$"), Some(Literal::Exact(b"abc".to_vec())));
        assert_eq!(literal(r"a\.b"), Some(Literal::Contains(b"a.b".to_vec())));
        assert_eq!(literal(""), Some(Literal::Contains(vec![])));
        assert_eq!(literal("a.b"), None);
        assert_eq!(literal(r"\d"), None);
        assert_eq!(literal("(?i)abc"), None);
        assert_eq!(literal("a$b"), None);
    }
}
