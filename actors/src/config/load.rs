//! Loading a Heka configuration (HEKA-SPEC §3.1): a file, or a directory
//! whose `*.toml` files are read in alphabetical order; `%ENV[…]`
//! substitution, TOML parsing with positions, `[hekad]` into
//! [`Globals`], every other table into a [`PluginSpec`], then Heka's
//! default instances. Every problem in every file is collected before
//! giving up, so one run shows them all.
//!
//! The `config` crate is not used: its errors carry no line numbers, and
//! users need "file:line: section `X`: unknown key `y`". The `toml` crate's
//! spanned parser gives the positions.
//!
//! Duplicate section names across files: Heka instantiated both and the
//! later one won the name, which nobody could rely on. Here it is an error
//! naming both places (within one file TOML itself rejects it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

use super::env::{expand_env, process_env};
use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::globals::{HEKAD, apply_hekad, os_hostname};
use super::plugin::read_plugin;
use super::spec::{Globals, Location, PluginSpec};
use super::value::{Ctx, entries, table};

/// Instances Heka registers unless a table of that name exists.
pub const DEFAULT_INSTANCES: [&str; 5] = [
    "ProtobufDecoder",
    "ProtobufEncoder",
    "TokenSplitter",
    "HekaFramingSplitter",
    "NullSplitter",
];

/// A loaded configuration: the globals and every plugin instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The `[hekad]` section (defaults when absent; `hostname` defaults to
    /// the OS hostname).
    pub globals: Globals,
    /// Plugin tables in file order (files alphabetically), then the default
    /// instances not defined explicitly.
    pub plugins: Vec<PluginSpec>,
}

impl Config {
    /// Loads a file, or every `*.toml` file of a directory (alphabetical
    /// order; other files ignored), substituting `%ENV[NAME]` from the
    /// process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::load_with_env(path, &process_env)
    }

    /// [`Config::load`] with `env` answering the `%ENV[NAME]` look-ups.
    pub fn load_with_env(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut loader = Loader::new(env);
        match toml_files(path) {
            Ok(files) => {
                for file in &files {
                    match std::fs::read_to_string(file) {
                        Ok(text) => loader.add_text(&text, file),
                        Err(e) => loader.unreadable(file, &e),
                    }
                }
            }
            Err(e) => loader.unreadable(path, &e),
        }
        loader.finish(path)
    }

    /// Loads config text; `file` only names it in messages.
    pub fn from_str(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
        Config::from_str_with_env(text, file, &process_env)
    }

    /// [`Config::from_str`] with `env` answering the `%ENV[NAME]` look-ups.
    pub fn from_str_with_env(
        text: &str,
        file: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut loader = Loader::new(env);
        loader.add_text(text, file);
        loader.finish(file)
    }

    /// The plugin instance called `name`.
    pub fn plugin(&self, name: &str) -> Option<&PluginSpec> {
        self.plugins.iter().find(|p| p.name == name)
    }
}

/// `path` itself, or the `*.toml` files of the directory `path` sorted by
/// name (Go's `ioutil.ReadDir` order).
fn toml_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !std::fs::metadata(path)?.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        let is_toml = name.as_encoded_bytes().ends_with(b".toml");
        // `metadata` follows symlinks, as Heka's read of the file did.
        if is_toml && std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
            files.push(entry.path());
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// State across the files of one load.
struct Loader<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    globals: Globals,
    plugins: Vec<PluginSpec>,
    /// Every section name seen (even ones with errors), and where.
    seen: HashMap<String, Location>,
    plugin_tables: usize,
    /// A file could not be read or parsed, so "empty" cannot be judged.
    incomplete: bool,
    errors: Vec<ConfigError>,
}

impl<'e> Loader<'e> {
    fn new(env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        Loader {
            env,
            globals: Globals {
                hostname: os_hostname(),
                ..Globals::default()
            },
            plugins: Vec::new(),
            seen: HashMap::new(),
            plugin_tables: 0,
            incomplete: false,
            errors: Vec::new(),
        }
    }

    fn unreadable(&mut self, path: &Path, e: &std::io::Error) {
        self.incomplete = true;
        self.errors
            .push(ConfigError::new(path, 0, ErrorKind::Io(e.to_string())));
    }

    fn add_text(&mut self, text: &str, file: &Path) {
        let lines = match expand_env(text, file, self.env) {
            Ok(lines) => lines,
            Err(errors) => {
                self.incomplete = true;
                self.errors.extend(errors);
                return;
            }
        };
        let (root, syntax) = DeTable::parse_recoverable(&lines.text);
        // Only the earliest in the file (the parser does not report in file
        // order): what it finds after recovering is mostly echoes of it.
        if let Some(e) = syntax
            .iter()
            .min_by_key(|e| e.span().map_or(usize::MAX, |s| s.start))
        {
            let (line, column) = e.span().map_or((0, 0), |s| lines.position(s.start));
            let mut error = ConfigError::new(file, line, ErrorKind::Syntax(e.message().to_owned()));
            error.column = column;
            self.errors.push(error);
            self.incomplete = true;
            return;
        }
        for entry in entries(root.into_inner(), &lines) {
            let name = entry.key;
            let here = Location {
                file: file.to_owned(),
                line: entry.line,
            };
            let ctx = Ctx {
                file,
                lines: &lines,
                section: &name,
            };
            if let Some(first) = self.seen.get(&name) {
                let kind = ErrorKind::Duplicate(first.to_string());
                self.errors
                    .push(ConfigError::new(file, here.line, kind).in_section(&name));
                continue;
            }
            self.seen.insert(name.clone(), here.clone());
            if name != HEKAD {
                self.plugin_tables += 1;
            }
            let section = match table(entry.value) {
                Ok(t) => t,
                Err(kind) => {
                    self.errors
                        .push(ConfigError::new(file, here.line, kind).in_section(&name));
                    continue;
                }
            };
            if name == HEKAD {
                apply_hekad(&mut self.globals, section, &ctx, &mut self.errors);
            } else if let Some(spec) = read_plugin(&name, here, section, &ctx, &mut self.errors) {
                self.plugins.push(spec);
            }
        }
    }

    fn finish(mut self, origin: &Path) -> Result<Config, ConfigErrors> {
        if self.plugin_tables == 0 && !self.incomplete {
            self.errors
                .push(ConfigError::new(origin, 0, ErrorKind::Empty));
        }
        if !self.errors.is_empty() {
            return Err(ConfigErrors(self.errors));
        }
        for name in DEFAULT_INSTANCES {
            if !self.seen.contains_key(name) {
                let mut spec = PluginSpec::new(name, name).expect("default types have a category");
                spec.default_instance = true;
                self.plugins.push(spec);
            }
        }
        Ok(Config {
            globals: self.globals,
            plugins: self.plugins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigErrors> {
        Config::from_str_with_env(text, Path::new("l.toml"), &|_| None)
    }

    #[test]
    fn plugins_keep_file_order_then_defaults() {
        let c = load("[z]\ntype = 'LogOutput'\n[a]\ntype = 'TcpInput'\n[NullSplitter]\n").unwrap();
        let names: Vec<(&str, bool)> = c
            .plugins
            .iter()
            .map(|p| (p.name.as_str(), p.default_instance))
            .collect();
        assert_eq!(
            names,
            vec![
                ("z", false),
                ("a", false),
                ("NullSplitter", false),
                ("ProtobufDecoder", true),
                ("ProtobufEncoder", true),
                ("TokenSplitter", true),
                ("HekaFramingSplitter", true),
            ]
        );
    }

    #[test]
    fn only_hekad_is_empty() {
        let e = load("[hekad]\nmaxprocs = 2\n").unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].kind, ErrorKind::Empty);
        assert_eq!(e.to_string(), "l.toml: Empty configuration, exiting.");
    }

    #[test]
    fn syntax_error_has_line_and_column_and_no_empty_error() {
        let e = load("[a]\ntype = 'LogOutput'\nx = = 1\n").unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!((e.0[0].line, e.0[0].column), (3, 5));
        assert!(matches!(e.0[0].kind, ErrorKind::Syntax(_)));
    }

    #[test]
    fn top_level_value_is_not_a_plugin() {
        let e = load("stray = 1\n[a]\ntype = 'LogOutput'\n").unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].section.as_deref(), Some("stray"));
        assert_eq!(e.0[0].line, 1);
    }

    #[test]
    fn hostname_defaults_to_the_os() {
        let c = load("[a]\ntype = 'LogOutput'\n").unwrap();
        assert_eq!(c.globals.hostname, os_hostname());
        let c = load("[hekad]\nhostname = 'me'\n[a]\ntype = 'LogOutput'\n").unwrap();
        assert_eq!(c.globals.hostname, "me");
    }
}
