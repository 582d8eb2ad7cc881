//! Reading parsed TOML with its positions: a section's keys in file order
//! with their lines, conversion of one spanned value to a plain
//! [`toml::Value`], and the typed getters (string, bool, integers) whose
//! errors say which type a key expects. Shared by the `[hekad]` and plugin
//! table readers.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::env::Expanded;
use super::error::{ConfigError, ErrorKind};

/// Where the reader is: the file, its line map and the section name.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub lines: &'a Expanded,
    pub section: &'a str,
}

impl Ctx<'_> {
    /// An error at `line` about `key` (dotted for nested keys).
    pub fn error(&self, line: usize, key: &str, kind: ErrorKind) -> ConfigError {
        ConfigError::new(self.file, line, kind)
            .in_section(self.section)
            .at_key(key)
    }
}

/// One key of a table, with the line the key is on.
pub(crate) struct Entry<'i> {
    pub key: String,
    pub line: usize,
    pub value: Spanned<DeValue<'i>>,
}

/// The table's keys in file order (the parser keeps them sorted by name).
pub(crate) fn entries<'i>(table: DeTable<'i>, lines: &Expanded) -> Vec<Entry<'i>> {
    let mut out: Vec<(usize, Entry<'i>)> = table
        .into_iter()
        .map(|(key, value)| {
            let start = key.span().start;
            let entry = Entry {
                line: lines.line(start),
                key: key.into_inner().into_owned(),
                value,
            };
            (start, entry)
        })
        .collect();
    out.sort_by_key(|(start, _)| *start);
    out.into_iter().map(|(_, entry)| entry).collect()
}

/// The plain value (integers and floats are only checked here, so a number
/// out of range is reported now, with its key).
pub(crate) fn to_value(value: Spanned<DeValue<'_>>) -> Result<toml::Value, ErrorKind> {
    toml::Value::deserialize(ValueDeserializer::from(value))
        .map_err(|e| ErrorKind::Invalid(e.message().to_owned()))
}

/// "a string", "an integer", … for messages.
pub(crate) fn type_name(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a datetime",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

fn wrong(expected: &'static str, value: &toml::Value) -> ErrorKind {
    ErrorKind::WrongType {
        expected,
        found: type_name(value),
    }
}

/// A string value.
pub(crate) fn string(value: toml::Value) -> Result<String, ErrorKind> {
    match value {
        toml::Value::String(s) => Ok(s),
        other => Err(wrong("a string", &other)),
    }
}

/// A boolean value.
pub(crate) fn boolean(value: toml::Value) -> Result<bool, ErrorKind> {
    match value {
        toml::Value::Boolean(b) => Ok(b),
        other => Err(wrong("a boolean", &other)),
    }
}

/// An integer value.
pub(crate) fn integer(value: toml::Value) -> Result<i64, ErrorKind> {
    match value {
        toml::Value::Integer(n) => Ok(n),
        other => Err(wrong("an integer", &other)),
    }
}

/// A non-negative integer (Go `uint`, `uint64`).
pub(crate) fn unsigned(value: toml::Value) -> Result<u64, ErrorKind> {
    const EXPECTED: &str = "a non-negative integer";
    match value {
        toml::Value::Integer(n) => u64::try_from(n).map_err(|_| ErrorKind::WrongType {
            expected: EXPECTED,
            found: "a negative integer",
        }),
        other => Err(wrong(EXPECTED, &other)),
    }
}

/// A non-negative integer that fits a `u32` (Go `uint32`, and `uint` where
/// the runtime keeps 32 bits).
pub(crate) fn unsigned32(value: toml::Value) -> Result<u32, ErrorKind> {
    let n = unsigned(value)?;
    u32::try_from(n).map_err(|_| ErrorKind::Invalid(format!("{n} is too large (max {})", u32::MAX)))
}

/// A table value, with its keys still spanned.
pub(crate) fn table<'i>(value: Spanned<DeValue<'i>>) -> Result<DeTable<'i>, ErrorKind> {
    match value.into_inner() {
        DeValue::Table(t) => Ok(t),
        other => {
            let found = match other {
                DeValue::String(_) => "a string",
                DeValue::Integer(_) => "an integer",
                DeValue::Float(_) => "a float",
                DeValue::Boolean(_) => "a boolean",
                DeValue::Datetime(_) => "a datetime",
                DeValue::Array(_) => "an array",
                DeValue::Table(_) => "a table",
            };
            Err(ErrorKind::WrongType {
                expected: "a table",
                found,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Got = Vec<(String, usize, Result<toml::Value, ErrorKind>)>;

    fn parse(text: &str) -> Got {
        let lines = Expanded::plain(text);
        let table = DeTable::parse(&lines.text).unwrap().into_inner();
        entries(table, &lines)
            .into_iter()
            .map(|e| (e.key, e.line, to_value(e.value)))
            .collect()
    }

    #[test]
    fn entries_come_in_file_order_with_lines() {
        let got = parse("zeta = 1\n\nalpha = 'a'\n[mid]\nx = 1\n");
        let keys: Vec<(&str, usize)> = got.iter().map(|(k, l, _)| (k.as_str(), *l)).collect();
        assert_eq!(keys, vec![("zeta", 1), ("alpha", 3), ("mid", 4)]);
    }

    #[test]
    fn huge_integer_is_an_error_not_a_panic() {
        let got = parse("n = 99999999999999999999\n");
        assert!(
            matches!(got[0].2, Err(ErrorKind::Invalid(_))),
            "{:?}",
            got[0].2
        );
    }

    #[test]
    fn typed_getters_name_expected_and_found() {
        let err = boolean(toml::Value::String("yes".into())).unwrap_err();
        assert_eq!(err.to_string(), "expected a boolean, found a string");
        let err = unsigned(toml::Value::Integer(-3)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected a non-negative integer, found a negative integer"
        );
        assert!(unsigned32(toml::Value::Integer(1 << 32)).is_err());
        assert_eq!(unsigned32(toml::Value::Integer(7)), Ok(7));
        assert_eq!(integer(toml::Value::Integer(-7)), Ok(-7));
        assert!(integer(toml::Value::Float(1.0)).is_err());
        assert_eq!(string(toml::Value::String("s".into())), Ok("s".into()));
    }
}
