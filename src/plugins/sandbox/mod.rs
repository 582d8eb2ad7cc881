//! Heka's Lua-scripted plugins (HEKA-SPEC §4, §5): SandboxInput,
//! SandboxDecoder, SandboxFilter, SandboxEncoder and SandboxOutput. Each
//! owns one [`Sandbox`] built from the common sandbox keys and calls the
//! script's `process_message` (and `timer_event` where Heka does); what the
//! script injects goes through a [`crate::sandbox::Sink`] that applies the
//! plugin type's rules. One file per plugin type; this one holds what they
//! share: loading the script, the preservation file, the status mapping and
//! the report figures.
//!
//! - [`filter`]: injections go through `FilterCx::inject`, types prefixed
//!   `heka.sandbox.`, payloads become `heka.sandbox-output`.
//! - [`decoder`]: injections are the decoded output; `write_message` edits
//!   the message that passes through when nothing is injected.
//! - [`encoder`]: the last injection is the output, `write_message` edits a
//!   copy, status -2 skips.
//! - [`input`]: IO template, no instruction limit; `process_message` runs
//!   the input loop on its own thread, once or every `ticker_interval`.
//! - [`output`]: IO template; `process_message` per matched message,
//!   status -3 retries it.
//!
//! Return codes follow Heka: 0 ok, < 0 a failed message
//! (`PluginError::Message`), > 0 and every sandbox error (limits, Lua
//! errors) `PluginError::Fatal`. Heka's sandboxes default `can_exit` to
//! true (`PluginSpec::can_exit`).

pub mod decoder;
pub mod encoder;
pub mod filter;
pub mod input;
pub mod output;

use std::path::PathBuf;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{BuildError, PluginError};
use heka_actors::report::Metric;
use heka_proto::Field;

use crate::sandbox::api::{PAYLOAD_NAME, PAYLOAD_TYPE};
use crate::sandbox::{Limits, Sandbox, SandboxConfig, SandboxSpec, Template, Usage};

pub use decoder::SandboxDecoder;
pub use encoder::SandboxEncoder;
pub use filter::SandboxFilter;
pub use input::SandboxInput;
pub use output::SandboxOutput;

/// Prefix of the `Type` of messages a SandboxFilter injects.
pub const TYPE_PREFIX: &str = "heka.sandbox.";
/// Status a SandboxEncoder returns to skip a message silently.
pub const ENCODER_SKIP: i64 = -2;

/// Reads the config, then builds the sandbox and runs the script's main
/// chunk. `limits` may adjust what the config asks for (inputs drop the
/// instruction limit, as Heka did).
fn load(
    spec: &PluginSpec,
    globals: &Globals,
    template: Template,
    limits: impl FnOnce(Limits) -> Limits,
) -> Result<(SandboxConfig, Sandbox), BuildError> {
    let cfg: SandboxConfig = super::options(spec)?;
    cfg.validate().map_err(|e| BuildError::invalid(spec, e))?;
    let path = cfg.script_path(globals);
    let source = std::fs::read(&path)
        .map_err(|e| BuildError::invalid(spec, format!("{}: {e}", path.display())))?;
    let chunk_name = path.file_name().map_or_else(
        || cfg.filename.clone(),
        |n| n.to_string_lossy().into_owned(),
    );
    let sandbox = Sandbox::new(SandboxSpec {
        chunk_name,
        source,
        template,
        limits: limits(cfg.limits()),
        module_dirs: cfg.module_dirs(globals),
        config: cfg.script_config(),
    })
    .map_err(|e| BuildError::invalid(spec, e))?;
    Ok((cfg, sandbox))
}

/// The preservation file when `preserve_data` is on, after restoring what
/// it holds (a bad file is logged and the script starts fresh).
fn restore(
    cfg: &SandboxConfig,
    sandbox: &Sandbox,
    spec: &PluginSpec,
    globals: &Globals,
) -> Option<PathBuf> {
    let path = cfg.preserve_data.then(|| state_file(globals, &spec.name))?;
    match sandbox.restore_state(&path) {
        Ok(outcome) => tracing::debug!(plugin = %spec.name, ?outcome, "preserve_data restored."),
        Err(err) => {
            tracing::error!(plugin = %spec.name, error = %err, "preserve_data not restored; starting fresh.")
        }
    }
    Some(path)
}

/// Writes `preserve_data` when it is on.
fn save(sandbox: &Sandbox, state_file: Option<&PathBuf>) -> Result<(), PluginError> {
    match state_file {
        Some(path) => sandbox.save_state(path).map(drop).map_err(fatal),
        None => Ok(()),
    }
}

/// Heka's preservation file: `<base_dir>/sandbox_preservation/<name>.data`,
/// non-word characters of the name replaced by `_`.
pub fn state_file(globals: &Globals, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    globals
        .base_dir
        .join("sandbox_preservation")
        .join(format!("{safe}.data"))
}

fn fatal(e: impl std::fmt::Display) -> PluginError {
    PluginError::fatal(e.to_string())
}

/// Heka's `process_message` status: 0 done, below 0 this message failed
/// (logged, counted), above 0 the sandbox is finished (fatal).
fn status(status: i64, text: Option<String>) -> Result<(), PluginError> {
    match status {
        0 => Ok(()),
        s if s < 0 => Err(failed(text)),
        s => {
            Err(PluginError::fatal(text.unwrap_or_else(|| {
                format!("process_message() returned {s}")
            })))
        }
    }
}

fn failed(text: Option<String>) -> PluginError {
    PluginError::message(text.unwrap_or_else(|| "process_message() failed".to_owned()))
}

fn payload_fields(payload_type: String, payload_name: String) -> [Field; 2] {
    [
        Field::string(PAYLOAD_TYPE, payload_type).with_representation("file-extension"),
        Field::string(PAYLOAD_NAME, payload_name),
    ]
}

/// Heka's per-sandbox report figures (HEKA-SPEC §5.4) from a usage
/// snapshot.
fn report_fields(usage: &Usage) -> Vec<Metric> {
    vec![
        ("Memory", usage.memory(), "B"),
        ("MaxMemory", usage.max_memory(), "B"),
        ("MaxInstructions", usage.max_instructions(), "count"),
        ("MaxOutput", usage.max_output(), "B"),
    ]
}

#[cfg(test)]
pub(crate) mod testing {
    //! What the plugin tests share: a spec for a script in a temp dir and
    //! packs to feed it.
    use bytes::Bytes;
    use heka_actors::config::{Globals, PluginSpec};
    use heka_actors::pack::Pack;
    use heka_proto::{Message, MessageView};

    /// Writes `src` as `s.lua` in `dir` and returns a spec of `type_name`
    /// for it (with `[config] greeting = "hi"`) and globals rooted there.
    pub fn spec(type_name: &str, dir: &std::path::Path, src: &str) -> (PluginSpec, Globals) {
        std::fs::write(dir.join("s.lua"), src).unwrap();
        let mut spec = PluginSpec::new("Sbx", type_name).unwrap();
        spec.options.insert("filename".into(), "s.lua".into());
        let mut cfg = toml::Table::new();
        cfg.insert("greeting".into(), "hi".into());
        spec.options.insert("config".into(), cfg.into());
        let globals = Globals {
            share_dir: dir.to_path_buf(),
            base_dir: dir.to_path_buf(),
            ..Globals::default()
        };
        (spec, globals)
    }

    /// A pack of type `t` with a hostname.
    pub fn pack(t: &str) -> Pack {
        let mut m = Message::new([1; 16], 5);
        m.r#type = Some(Bytes::copy_from_slice(t.as_bytes()));
        m.hostname = Some(Bytes::from_static(b"orig-host"));
        Pack::detached(MessageView::from_message(&m).unwrap())
    }
}
