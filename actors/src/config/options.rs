//! A plugin's own options, as its factory reads them: deserialise
//! [`PluginSpec::options`] into the plugin's `<Type>Config` (which uses
//! `#[serde(deny_unknown_fields)]`) and turn serde's errors into
//! [`ConfigError`]s that name the file, the line of the key, the section and
//! the key. Plugins that check values themselves use
//! [`PluginSpec::invalid`] and [`PluginSpec::unknown_key`].

use std::fmt::Display;

use serde::de::DeserializeOwned;

use super::error::{ConfigError, ErrorKind};
use super::spec::PluginSpec;

impl PluginSpec {
    /// The plugin's own options (common keys removed) as `T`.
    ///
    /// An unknown key (serde's "unknown field `x`, expected one of …"), a
    /// missing one or a value of the wrong type becomes a [`ConfigError`] at
    /// the key's line (the header's line for a missing key).
    pub fn options<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        self.options
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| self.serde_error(&e))
    }

    /// "unknown key `key`" at the key's line. `key` may be dotted
    /// (`config.foo`) for nested tables.
    pub fn unknown_key(&self, key: &str) -> ConfigError {
        self.error_at(key, ErrorKind::UnknownKey { hint: None })
    }

    /// "key `key`: text" at the key's line, for values the plugin rejects.
    pub fn invalid(&self, key: &str, text: impl Display) -> ConfigError {
        self.error_at(key, ErrorKind::Invalid(text.to_string()))
    }

    /// The line of `key` (or of the top-level key it is nested in), else
    /// the header's line.
    pub fn key_line(&self, key: &str) -> usize {
        self.key_lines
            .iter()
            .filter(|(top, _)| {
                key == top.as_str()
                    || key
                        .strip_prefix(top.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            .max_by_key(|(top, _)| top.len())
            .map_or(self.location.line, |(_, line)| *line)
    }

    fn error_at(&self, key: &str, kind: ErrorKind) -> ConfigError {
        ConfigError::new(self.location.file.clone(), self.key_line(key), kind)
            .in_section(&self.name)
            .at_key(key)
    }

    fn serde_error(&self, e: &toml::de::Error) -> ConfigError {
        let message = e.message();
        let path = error_path(e);
        let join = |field: &str| match &path {
            Some(p) => format!("{p}.{field}"),
            None => field.to_owned(),
        };
        if let Some((field, rest)) = quoted_after(message, "unknown field `") {
            let hint = rest.trim_start_matches(',').trim();
            let hint = (!hint.is_empty()).then(|| hint.to_owned());
            return self.error_at(&join(field), ErrorKind::UnknownKey { hint });
        }
        if let Some((field, _)) = quoted_after(message, "missing field `") {
            let key = join(field);
            let mut error =
                self.error_at(&key, ErrorKind::Invalid("required key is missing".into()));
            // The key is not in the file: point at the table that lacks it.
            error.line = path
                .as_deref()
                .map_or(self.location.line, |p| self.key_line(p));
            return error;
        }
        let kind = ErrorKind::Invalid(message.to_owned());
        match path {
            Some(p) => self.error_at(&p, kind),
            None => ConfigError::new(self.location.file.clone(), self.location.line, kind)
                .in_section(&self.name),
        }
    }
}

/// `name` and what follows its closing backquote, in "…prefix`name`rest".
fn quoted_after<'m>(message: &'m str, prefix: &str) -> Option<(&'m str, &'m str)> {
    let rest = message.strip_prefix(prefix)?;
    let end = rest.find('`')?;
    Some((&rest[..end], &rest[end + 1..]))
}

/// The dotted key path toml attaches to an error while deserialising a
/// table. `toml::de::Error` keeps it private and only shows it as a last
/// line "in `a.b`" of its Display (when it has no source span, which is the
/// case for tables already parsed), so read it from there.
fn error_path(e: &toml::de::Error) -> Option<String> {
    let shown = e.to_string();
    if shown.lines().count() <= e.message().lines().count() {
        return None;
    }
    let last = shown.lines().last()?;
    Some(last.strip_prefix("in `")?.strip_suffix('`')?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde::Deserialize;
    use std::path::Path;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct TcpInputConfig {
        address: String,
        #[serde(default)]
        keep_alive: bool,
        #[serde(default)]
        tls: Option<Tls>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Tls {
        cert_file: String,
    }

    fn spec(text: &str) -> PluginSpec {
        let config = Config::from_str(text, Path::new("o.toml")).unwrap();
        config.plugins.into_iter().find(|p| p.name == "in").unwrap()
    }

    #[test]
    fn reads_options_with_nested_tables() {
        let s = spec("[in]\ntype = 'TcpInput'\naddress = ':1'\n[in.tls]\ncert_file = 'c'\n");
        let got: TcpInputConfig = s.options().unwrap();
        assert_eq!(got.address, ":1");
        assert_eq!(got.tls.unwrap().cert_file, "c");
    }

    #[test]
    fn unknown_field_names_line_section_key_and_choices() {
        let s = spec("[in]\ntype = 'TcpInput'\naddress = ':1'\n\nadress = 'x'\n");
        let e = s.options::<TcpInputConfig>().unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (5, Some("adress")));
        let text = e.to_string();
        assert!(
            text.starts_with("o.toml:5: section `in`: unknown key `adress`"),
            "{text}"
        );
        assert!(text.contains("`address`"), "{text}");
    }

    #[test]
    fn nested_unknown_field_is_dotted_at_sub_table_line() {
        let s = spec("[in]\ntype = 'TcpInput'\naddress = ':1'\n[in.tls]\ncert = 'c'\n");
        let e = s.options::<TcpInputConfig>().unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (4, Some("tls.cert")));
    }

    #[test]
    fn wrong_type_names_the_key_line() {
        let s = spec("[in]\ntype = 'TcpInput'\naddress = ':1'\nkeep_alive = 'yes'\n");
        let e = s.options::<TcpInputConfig>().unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (4, Some("keep_alive")));
        assert!(e.to_string().contains("expected a boolean"), "{e}");
    }

    #[test]
    fn missing_field_points_at_header() {
        let s = spec("\n[in]\ntype = 'TcpInput'\nkeep_alive = true\n");
        let e = s.options::<TcpInputConfig>().unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (2, Some("address")));
    }

    #[test]
    fn helpers_use_key_lines() {
        let s = spec("[in]\ntype = 'TcpInput'\n\naddress = ':1'\n");
        assert_eq!(
            s.invalid("address", "bad port").to_string(),
            "o.toml:4: section `in`: key `address`: bad port"
        );
        assert_eq!(s.unknown_key("nope").line, 1);
        assert_eq!(s.key_line("address.x"), 4);
        assert_eq!(s.key_line("addressx"), 1);
    }
}
