//! The common sandbox keys every `Sandbox*` plugin accepts (HEKA-SPEC §3.4),
//! read from the plugin's own options, and the `[name.config]` table that
//! scripts read with `read_config`. The plugin factories in
//! `plugins/sandbox/` turn a [`SandboxConfig`] into [`Limits`] and a
//! [`crate::sandbox::Sandbox`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use heka_actors::config::Globals;
use serde::Deserialize;

use super::limits::Limits;

/// Default `memory_limit`: 8 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 8 * 1024 * 1024;
/// Default `instruction_limit` per call.
pub const DEFAULT_INSTRUCTION_LIMIT: u64 = 1_000_000;
/// Default `output_limit`: 63 KiB.
pub const DEFAULT_OUTPUT_LIMIT: usize = 64512;
/// The default `module_directory`, under `share_dir`.
pub const MODULE_SUBDIR: &str = "lua_modules";

/// Heka's common sandbox keys plus the free `[name.config]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// The script; relative paths are under `share_dir`.
    pub filename: String,
    /// Only `"lua"`.
    #[serde(default = "default_script_type")]
    pub script_type: String,
    /// Save and restore the script's globals across restarts (§5.7).
    #[serde(default)]
    pub preserve_data: bool,
    /// Bytes of Lua memory.
    #[serde(default = "default_memory_limit")]
    pub memory_limit: usize,
    /// Lua VM instructions per call, 0 = unlimited.
    #[serde(default = "default_instruction_limit")]
    pub instruction_limit: u64,
    /// Bytes of the output buffer (payloads and injected messages).
    #[serde(default = "default_output_limit")]
    pub output_limit: usize,
    /// `;`-separated directories `require` searches for `?.lua`.
    #[serde(default)]
    pub module_directory: Option<String>,
    /// Call `timer_event` once more at shutdown.
    #[serde(default)]
    pub timer_event_on_shutdown: bool,
    /// Accepted; profiling is not implemented.
    #[serde(default)]
    pub profile: bool,
    /// The `[name.config]` table.
    #[serde(default)]
    pub config: toml::Table,
}

fn default_script_type() -> String {
    "lua".into()
}
fn default_memory_limit() -> usize {
    DEFAULT_MEMORY_LIMIT
}
fn default_instruction_limit() -> u64 {
    DEFAULT_INSTRUCTION_LIMIT
}
fn default_output_limit() -> usize {
    DEFAULT_OUTPUT_LIMIT
}

/// A `[name.config]` value as a script sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    /// A TOML string.
    Str(String),
    /// A TOML boolean.
    Bool(bool),
    /// A TOML integer or float (Lua numbers are doubles).
    Num(f64),
}

impl SandboxConfig {
    /// Checks the values Heka checks: the script type.
    pub fn validate(&self) -> Result<(), String> {
        if self.script_type != "lua" {
            return Err(format!(
                "unsupported script_type `{}` (only \"lua\")",
                self.script_type
            ));
        }
        if self.filename.is_empty() {
            return Err("filename must be set".into());
        }
        Ok(())
    }

    /// The script path, resolved against `share_dir`.
    pub fn script_path(&self, globals: &Globals) -> PathBuf {
        resolve(&globals.share_dir, &self.filename)
    }

    /// The directories `require` searches, in order.
    pub fn module_dirs(&self, globals: &Globals) -> Vec<PathBuf> {
        match &self.module_directory {
            None => vec![globals.share_dir.join(MODULE_SUBDIR)],
            Some(list) => list
                .split(';')
                .filter(|d| !d.is_empty())
                .map(|d| resolve(&globals.share_dir, d))
                .collect(),
        }
    }

    /// The limits this config asks for.
    pub fn limits(&self) -> Limits {
        Limits {
            memory: self.memory_limit,
            instructions: self.instruction_limit,
            output: self.output_limit,
            ..Limits::default()
        }
    }

    /// The `[name.config]` values a script can read; arrays and tables are
    /// not exposed (they read as nil).
    pub fn script_config(&self) -> BTreeMap<String, ConfigValue> {
        self.config
            .iter()
            .filter_map(|(k, v)| {
                let v = match v {
                    toml::Value::String(s) => ConfigValue::Str(s.clone()),
                    toml::Value::Boolean(b) => ConfigValue::Bool(*b),
                    toml::Value::Integer(i) => ConfigValue::Num(*i as f64),
                    toml::Value::Float(f) => ConfigValue::Num(*f),
                    toml::Value::Datetime(d) => ConfigValue::Str(d.to_string()),
                    _ => return None,
                };
                Some((k.clone(), v))
            })
            .collect()
    }
}

fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SandboxConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_follow_heka() {
        let cfg = parse("filename = 'x.lua'").unwrap();
        assert_eq!(cfg.memory_limit, 8388608);
        assert_eq!(cfg.instruction_limit, 1_000_000);
        assert_eq!(cfg.output_limit, 64512);
        assert!(!cfg.preserve_data && !cfg.profile && !cfg.timer_event_on_shutdown);
        let globals = Globals {
            share_dir: "/usr/share/heka".into(),
            ..Globals::default()
        };
        assert_eq!(
            cfg.script_path(&globals),
            PathBuf::from("/usr/share/heka/x.lua")
        );
        assert_eq!(
            cfg.module_dirs(&globals),
            vec![PathBuf::from("/usr/share/heka/lua_modules")]
        );
        cfg.validate().unwrap();
    }

    #[test]
    fn module_directory_list_and_config_table() {
        let cfg = parse(
            "filename = '/abs/x.lua'\nmodule_directory = '/a;b'\n\
             [config]\ns = 'v'\ni = 3\nf = 1.5\nb = true\narr = [1]",
        )
        .unwrap();
        let globals = Globals::default();
        assert_eq!(cfg.script_path(&globals), PathBuf::from("/abs/x.lua"));
        let dirs = cfg.module_dirs(&globals);
        assert_eq!(dirs[0], PathBuf::from("/a"));
        assert_eq!(dirs[1], globals.share_dir.join("b"));
        let sc = cfg.script_config();
        assert_eq!(sc["s"], ConfigValue::Str("v".into()));
        assert_eq!(sc["i"], ConfigValue::Num(3.0));
        assert_eq!(sc["f"], ConfigValue::Num(1.5));
        assert_eq!(sc["b"], ConfigValue::Bool(true));
        assert!(!sc.contains_key("arr"));
    }

    #[test]
    fn rejects_unknown_keys_and_other_script_types() {
        assert!(parse("filename = 'x'\nbogus = 1").is_err());
        let cfg = parse("filename = 'x'\nscript_type = 'js'").unwrap();
        assert!(cfg.validate().is_err());
    }
}
