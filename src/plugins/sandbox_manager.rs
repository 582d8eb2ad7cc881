//! SandboxManagerFilter: Heka's dynamic sandboxes (HEKA-SPEC §5.8). It
//! receives `heka.control.sandbox` messages (normally signed: the router
//! only delivers packs signed by its `message_signer`) and loads, unloads
//! and reloads SandboxFilters in the running pipeline through the runtime's
//! `Control` handle (`heka_actors::control`).
//!
//! - `load`: `Fields[config]` is TOML whose first table is a SandboxFilter,
//!   `Payload` its Lua source. The filter runs as `<manager>-<table>` (each
//!   part's non-word characters turned into `_`); both texts are written
//!   into the working directory (`<name>.toml`, `<name>.lua`, mode 0600)
//!   and the manager's `module_directory` and limits override the
//!   filter's. The filter is built here first, so a bad config or script is
//!   answered at once with `heka.sandbox-terminated` (field `plugin` = the
//!   manager) and its files are removed.
//! - `unload`: `Fields[name]` is the table name used at load; the filter
//!   drains, stops and its files are removed.
//! - `reload` (ours): the same fields as `load`, for a running filter. The
//!   new version is built here first; then the runner checkpoints the old
//!   one and swaps the new one in, so no queued message is lost or seen
//!   twice.
//!
//! Control messages more than 5 s from the manager's clock are discarded,
//! and `max_filters` (default 0) bounds how many filters this manager has
//! loaded (from load to unload). At start the manager loads every `<manager>-*.toml` left in its
//! working directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use heka_actors::config::{Config, Globals, PluginSpec};
use heka_actors::pack::{Pack, now_ns};
use heka_actors::plugin::{BuildError, Filter, FilterCx, PluginError};
use heka_actors::report::Metric;
use heka_proto::{Field, FieldValue, MessageView};
use serde::Deserialize;

use crate::plugins::sandbox::SandboxFilter;
use crate::sandbox::config::{
    DEFAULT_INSTRUCTION_LIMIT, DEFAULT_MEMORY_LIMIT, DEFAULT_OUTPUT_LIMIT,
};

/// The manager's default matcher.
pub const CONTROL_TYPE: &str = "heka.control.sandbox";
/// Subdirectory of the working directory where a new script is built
/// before it replaces anything (same file name, so errors name it alike).
const STAGING: &str = ".staged";
/// Largest clock skew a control message may have.
pub const MAX_SKEW_NS: i64 = 5_000_000_000;

/// The manager's own keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxManagerFilterConfig {
    /// Where loaded filters' files live; relative to `base_dir`.
    #[serde(default = "default_working_directory")]
    pub working_directory: String,
    /// The `module_directory` every loaded filter gets.
    #[serde(default)]
    pub module_directory: Option<String>,
    /// How many of this manager's filters may run (0: none).
    #[serde(default)]
    pub max_filters: usize,
    /// The `memory_limit` every loaded filter gets.
    #[serde(default = "default_memory_limit")]
    pub memory_limit: usize,
    /// The `instruction_limit` every loaded filter gets.
    #[serde(default = "default_instruction_limit")]
    pub instruction_limit: u64,
    /// The `output_limit` every loaded filter gets.
    #[serde(default = "default_output_limit")]
    pub output_limit: usize,
}

fn default_working_directory() -> String {
    "sbxmgrs".into()
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

/// Non-word characters (`\W`) become `_`.
fn word(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The dynamic sandbox manager.
#[derive(Debug)]
pub struct SandboxManagerFilter {
    /// `<manager>-`, the prefix of every filter it loads.
    prefix: String,
    dir: PathBuf,
    cfg: SandboxManagerFilterConfig,
    globals: Globals,
    /// Filters loaded and not unloaded (Heka's RunningFilters figure).
    loaded: u64,
}

/// What a control message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Load,
    Reload,
}

impl SandboxManagerFilter {
    /// Builds a SandboxManagerFilter from its spec.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Filter>, BuildError> {
        let cfg: SandboxManagerFilterConfig = super::options(spec)?;
        let dir = globals.base_dir.join(&cfg.working_directory);
        create_private_dir(&dir)
            .map_err(|e| BuildError::invalid(spec, format!("{}: {e}", dir.display())))?;
        Ok(Box::new(SandboxManagerFilter {
            prefix: format!("{}-", word(&spec.name)),
            dir,
            cfg,
            globals: globals.clone(),
            loaded: 0,
        }))
    }

    fn path(&self, name: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{name}.{ext}"))
    }

    /// The spec a loaded filter runs with: the first table of `config`
    /// (a SandboxFilter), renamed and with the manager's overrides.
    fn spec(&self, config: &str, file: &Path) -> Result<PluginSpec, String> {
        let parsed =
            Config::from_str_with_env(config, file, &|_| None).map_err(|e| e.to_string())?;
        let Some(mut spec) = parsed.plugins.into_iter().find(|p| !p.default_instance) else {
            return Err(format!("{}: no plugin table", file.display()));
        };
        if spec.type_name != "SandboxFilter" {
            return Err(format!(
                "{}: section `{}` has type {}; only SandboxFilter can be loaded",
                file.display(),
                spec.name,
                spec.type_name
            ));
        }
        spec.name = format!("{}{}", self.prefix, word(&spec.name));
        let script = self.path(&spec.name, "lua");
        let options = &mut spec.options;
        options.insert("filename".into(), script.display().to_string().into());
        match &self.cfg.module_directory {
            Some(dir) => options.insert("module_directory".into(), dir.clone().into()),
            None => options.remove("module_directory"),
        };
        let limits = [
            ("memory_limit", self.cfg.memory_limit as i64),
            ("instruction_limit", self.cfg.instruction_limit as i64),
            ("output_limit", self.cfg.output_limit as i64),
        ];
        for (key, value) in limits {
            options.insert(key.into(), value.into());
        }
        // Dynamic sandboxes may always exit.
        spec.common.can_exit = Some(true);
        Ok(spec)
    }

    /// Names of the filters whose config is in the working directory.
    fn saved(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| {
                let file = e.ok()?.file_name().into_string().ok()?;
                let name = file.strip_suffix(".toml")?;
                name.starts_with(&self.prefix).then(|| name.to_owned())
            })
            .collect();
        names.sort();
        names
    }

    fn remove_files(&self, name: &str) {
        for ext in ["toml", "lua"] {
            let _ = std::fs::remove_file(self.path(name, ext));
        }
    }

    fn load(&self, msg: &MessageView, action: Action, cx: &mut FilterCx) -> Result<(), String> {
        let control = cx
            .control()
            .ok_or("no pipeline to load filters into")?
            .clone();
        let config = text_field(msg, b"config").ok_or("Fields[config] is missing")?;
        let spec = self.spec(&config, Path::new("<control message>"))?;
        let name = spec.name.clone();
        let running = control.is_running(&name);
        match action {
            Action::Load if running => {
                return Err(format!("{name} is already running (reload replaces it)"));
            }
            Action::Reload if !running => return Err(format!("{name} is not running")),
            // A filter counts from its load to its unload (a terminated
            // one keeps its files, and comes back at the next start).
            Action::Load if self.saved().len() >= self.cfg.max_filters => {
                return Err(format!(
                    "{name} not loaded: max_filters ({}) reached",
                    self.cfg.max_filters
                ));
            }
            _ => {}
        }
        // Build it here first, from a staged copy of the script: errors are
        // answered now and a running version is never touched by them.
        let staging = self.dir.join(STAGING);
        let staged = staging.join(format!("{name}.lua"));
        create_private_dir(&staging)
            .and_then(|()| write_private(&staged, msg.payload()))
            .map_err(|e| format!("{}: {e}", staged.display()))?;
        let mut trial = spec.clone();
        trial
            .options
            .insert("filename".into(), staged.display().to_string().into());
        if let Err(err) = SandboxFilter::build(&trial, &self.globals) {
            let _ = std::fs::remove_file(&staged);
            return Err(err.to_string());
        }
        let toml = self.path(&name, "toml");
        write_private(&toml, config.as_bytes())
            .and_then(|()| std::fs::rename(&staged, self.path(&name, "lua")))
            .map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let dir = self.dir.clone();
        match action {
            Action::Load => {
                let reply = control.load(spec);
                actix::spawn(async move {
                    match reply.await {
                        Ok(()) => tracing::info!(plugin = %name, "Dynamic filter loaded."),
                        Err(err) => {
                            tracing::error!(plugin = %name, error = %err, "Dynamic filter not loaded.");
                            for ext in ["toml", "lua"] {
                                let _ = std::fs::remove_file(dir.join(format!("{name}.{ext}")));
                            }
                        }
                    }
                });
            }
            Action::Reload => {
                // The runner also watches the script it runs: a poll that
                // lands between the rename above and this swap reloads the
                // new code with the old config first. Both are complete
                // versions, and the swap follows at once.
                let reply = control.replace(spec);
                actix::spawn(async move {
                    if let Err(err) = reply.await {
                        tracing::error!(plugin = %name, error = %err, "Dynamic filter not reloaded; the running version stays.");
                    }
                });
            }
        }
        Ok(())
    }

    fn unload(&self, msg: &MessageView, cx: &mut FilterCx) -> Result<(), String> {
        let control = cx.control().ok_or("no pipeline to unload filters from")?;
        let table = text_field(msg, b"name").ok_or("Fields[name] is missing")?;
        let name = format!("{}{}", self.prefix, word(&table));
        if !control.is_running(&name) {
            // A terminated filter's files are still there: forget them.
            if !self.saved().contains(&name) {
                return Err(format!("{name} is not loaded"));
            }
            self.remove_files(&name);
            tracing::info!(plugin = %name, "Terminated dynamic filter unloaded.");
            return Ok(());
        }
        let reply = control.unload(&name);
        let dir = self.dir.clone();
        actix::spawn(async move {
            reply.await;
            // Removed only now: the running filter watches its script.
            for ext in ["toml", "lua"] {
                let _ = std::fs::remove_file(dir.join(format!("{name}.{ext}")));
            }
        });
        Ok(())
    }

    /// Reports a failed control message as Heka did: a
    /// `heka.sandbox-terminated` message naming the manager.
    fn fail(&self, cx: &mut FilterCx, text: String) -> PluginError {
        let mut msg = cx.new_message();
        msg.r#type = Some("heka.sandbox-terminated".into());
        msg.payload = Some(text.clone().into());
        msg.fields.push(Field::string("plugin", cx.name()));
        if let Err(err) = cx.inject(&msg) {
            tracing::warn!(plugin = %cx.name(), error = %err, "Could not announce a failed control message.");
        }
        PluginError::message(text)
    }
}

fn text_field(msg: &MessageView, name: &[u8]) -> Option<String> {
    match msg.field_value(name, 0, 0)? {
        FieldValue::String(s) | FieldValue::Bytes(s) => Some(String::from_utf8_lossy(s).into()),
        _ => None,
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `bytes` to `path` (mode 0600) through a temporary file renamed
/// into place.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Filter for SandboxManagerFilter {
    fn process(&mut self, pack: &Pack, cx: &mut FilterCx) -> Result<(), PluginError> {
        let msg = &pack.message;
        let skew = now_ns().saturating_sub(msg.timestamp());
        if skew.abs() > MAX_SKEW_NS {
            return Err(PluginError::message(format!(
                "Discarded control message: {} seconds skew",
                skew / 1_000_000_000
            )));
        }
        let result = match msg.field_value(b"action", 0, 0) {
            Some(FieldValue::String(b"load")) => self.load(msg, Action::Load, cx),
            Some(FieldValue::String(b"reload")) => self.load(msg, Action::Reload, cx),
            Some(FieldValue::String(b"unload")) => self.unload(msg, cx),
            _ => Ok(()),
        };
        self.loaded = self.saved().len() as u64;
        result.map_err(|text| self.fail(cx, text))
    }

    fn report_fields(&self) -> Vec<Metric> {
        vec![("RunningFilters", self.loaded, "count")]
    }

    fn default_matcher(&self) -> Option<&'static str> {
        Some("Type == 'heka.control.sandbox'")
    }

    fn started(&mut self, cx: &mut FilterCx) {
        self.loaded = self.saved().len() as u64;
        let Some(control) = cx.control().cloned() else {
            return;
        };
        for (i, name) in self.saved().into_iter().enumerate() {
            if i >= self.cfg.max_filters {
                tracing::error!(plugin = %name, max_filters = self.cfg.max_filters, "Saved dynamic filter not restored: max_filters reached.");
                continue;
            }
            if control.is_running(&name) {
                continue;
            }
            let toml = self.path(&name, "toml");
            let spec = std::fs::read_to_string(&toml)
                .map_err(|e| e.to_string())
                .and_then(|text| self.spec(&text, &toml));
            let spec = match spec {
                Ok(spec) if spec.name == name => spec,
                Ok(spec) => {
                    tracing::error!(file = %toml.display(), table = %spec.name, "Saved dynamic filter config names another filter; skipped.");
                    continue;
                }
                Err(err) => {
                    tracing::error!(file = %toml.display(), error = %err, "Saved dynamic filter not restored.");
                    continue;
                }
            };
            let reply = control.load(spec);
            actix::spawn(async move {
                match reply.await {
                    Ok(()) => tracing::info!(plugin = %name, "Dynamic filter restored."),
                    Err(err) => {
                        tracing::error!(plugin = %name, error = %err, "Dynamic filter not restored.")
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager(dir: &Path, options: &str) -> SandboxManagerFilter {
        let spec = PluginSpec {
            options: toml::from_str(options).unwrap(),
            ..PluginSpec::new("ops mgr", "SandboxManagerFilter").unwrap()
        };
        let globals = Globals {
            base_dir: dir.to_owned(),
            ..Globals::default()
        };
        let cfg = super::super::options(&spec).unwrap();
        let built = SandboxManagerFilter::build(&spec, &globals).unwrap();
        assert_eq!(
            built.default_matcher(),
            Some("Type == 'heka.control.sandbox'")
        );
        SandboxManagerFilter {
            prefix: format!("{}-", word(&spec.name)),
            dir: dir.join("sbxmgrs"),
            cfg,
            globals,
            loaded: 0,
        }
    }

    #[test]
    fn loaded_specs_get_the_manager_s_name_paths_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(
            dir.path(),
            "memory_limit = 1000\ninstruction_limit = 7\noutput_limit = 9\nmodule_directory = \"/m\"\n",
        );
        let mode = std::fs::metadata(dir.path().join("sbxmgrs")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o700
        );
        let spec = m
            .spec(
                "[\"my filter\"]\ntype = \"SandboxFilter\"\nfilename = \"/etc/passwd\"\n\
                 module_directory = \"/elsewhere\"\nmemory_limit = 99999999\ncan_exit = false\n\
                 message_matcher = \"TRUE\"\n[other]\ntype = \"SandboxFilter\"\n",
                Path::new("t.toml"),
            )
            .unwrap();
        assert_eq!(spec.name, "ops_mgr-my_filter");
        let script = dir.path().join("sbxmgrs/ops_mgr-my_filter.lua");
        assert_eq!(
            spec.options["filename"].as_str(),
            Some(script.to_str().unwrap())
        );
        assert_eq!(spec.options["module_directory"].as_str(), Some("/m"));
        assert_eq!(spec.options["memory_limit"].as_integer(), Some(1000));
        assert_eq!(spec.options["instruction_limit"].as_integer(), Some(7));
        assert_eq!(spec.options["output_limit"].as_integer(), Some(9));
        assert_eq!(spec.common.can_exit, Some(true));
        assert_eq!(spec.common.message_matcher.as_deref(), Some("TRUE"));
    }

    #[test]
    fn only_sandbox_filters_with_a_valid_config_load() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(dir.path(), "");
        let err = m
            .spec("[x]\ntype = \"TcpOutput\"\n", Path::new("t.toml"))
            .unwrap_err();
        assert!(err.contains("only SandboxFilter"), "{err}");
        let err = m.spec("", Path::new("t.toml")).unwrap_err();
        assert!(err.contains("Empty configuration"), "{err}");
        let err = m
            .spec(
                "[x]\ntype = \"SandboxFilter\"\nbad = [\n",
                Path::new("t.toml"),
            )
            .unwrap_err();
        assert!(err.contains("t.toml:3"), "{err}");
        // The control message cannot read hekad's environment.
        let spec = m
            .spec(
                "[x]\ntype = \"SandboxFilter\"\nmessage_matcher = \"Type == '%ENV[PATH]'\"\n",
                Path::new("t.toml"),
            )
            .unwrap();
        assert_eq!(spec.common.message_matcher.as_deref(), Some("Type == ''"));
    }
}
