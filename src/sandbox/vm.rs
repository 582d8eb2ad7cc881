//! One sandbox: a Lua state with Heka's environment, limits and API, the
//! loaded script, and the calls into its entry points (`process_message`,
//! `timer_event`). Plugins in `plugins/sandbox/` own a [`Sandbox`] and
//! map its results to `PluginError`s per plugin type.
//!
//! Every call starts with a fresh instruction budget and deadline, resets
//! the main thread's globals to the script's table (a script's
//! `setfenv(0, t)` cannot hide the entry points from the host) and lends
//! the current message and sink to the API functions through the
//! sandbox's slot (see `api.rs`). A
//! failed call leaves the state usable: the memory limit makes allocations
//! fail cleanly and a doomed call ends at its top.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mlua::chunk::ChunkMode;
use mlua::{Function, Lua, Table, Value};

use super::api::{self, Call, ERROR_SIZE, Frame, Slot};
use super::config::ConfigValue;
use super::drive::{self, Message, Returned};
use super::env::{self, Template};
use super::limits::{self, Abort, Budget, Limits};
use super::modules::circular_buffer;
use super::patterns;
use super::preserve;
use super::usage::Usage;

/// Why a sandbox call (or the load) failed; each terminates the sandbox in
/// Heka.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// A limit or an injection refusal stopped the call.
    #[error("{0}")]
    Abort(Abort),
    /// An allocation went past `memory_limit`.
    #[error("memory limit exceeded")]
    Memory,
    /// The script raised an error (text as Heka shows it, ≤ 255 bytes).
    #[error("{0}")]
    Lua(String),
    /// The state could not be built or the script read.
    #[error("{0}")]
    Setup(String),
}

/// What building a sandbox needs.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    /// Chunk name shown in error messages (usually the script's file name).
    pub chunk_name: String,
    /// The script source.
    pub source: Vec<u8>,
    /// Heka's environment flavour.
    pub template: Template,
    /// The limits.
    pub limits: Limits,
    /// Where `require` looks for `?.lua`.
    pub module_dirs: Vec<PathBuf>,
    /// The `[name.config]` values for `read_config`.
    pub config: BTreeMap<String, ConfigValue>,
}

/// A loaded sandbox script.
pub struct Sandbox {
    lua: Lua,
    globals: Table,
    /// Where the API functions find the call in progress.
    slot: Arc<Slot>,
    /// The per-call limits' accounting.
    budget: Arc<Budget>,
    /// Calls the entry points (see `drive.rs`).
    driver: Function,
    /// The globals before the script ran: what preserve_data leaves out.
    baseline: preserve::Baseline,
    /// Interned keys used on every call (a `&str` key is pushed anew each
    /// time).
    keys: Keys,
    usage: Arc<Usage>,
    stop: Arc<AtomicBool>,
}

/// Ends a sandbox's running call (and every later one) with "shutting
/// down", from any thread.
#[derive(Debug, Clone)]
pub struct Stopper(Arc<AtomicBool>);

impl Stopper {
    /// Asks the sandbox to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

struct Keys {
    process_message: mlua::LuaString,
    timer_event: mlua::LuaString,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("memory", &self.lua.used_memory())
            .finish()
    }
}

impl Sandbox {
    /// Builds the state and runs the script's main chunk (under the limits).
    pub fn new(spec: SandboxSpec) -> Result<Sandbox, SandboxError> {
        let setup = |e: mlua::Error| SandboxError::Setup(error_text(&e));
        let lua = env::new_state(spec.template, spec.module_dirs).map_err(setup)?;
        patterns::install(&lua).map_err(setup)?;
        let usage = Arc::new(Usage::default());
        let stop = Arc::new(AtomicBool::new(false));
        let slot =
            api::install(&lua, spec.limits.output, spec.config, usage.clone()).map_err(setup)?;
        let budget =
            limits::install(&lua, &spec.limits, usage.clone(), stop.clone()).map_err(setup)?;
        let globals = lua.globals();
        let baseline = preserve::baseline(&lua).map_err(setup)?;
        let driver = drive::create(&lua, &globals, &slot).map_err(setup)?;
        let keys = Keys {
            process_message: lua.create_string("process_message").map_err(setup)?,
            timer_event: lua.create_string("timer_event").map_err(setup)?,
        };
        let sandbox = Sandbox {
            keys,
            lua,
            globals,
            slot,
            budget,
            driver,
            baseline,
            usage,
            stop,
        };
        let chunk = sandbox
            .lua
            .load(spec.source)
            .set_name(format!("@{}", spec.chunk_name))
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|e| SandboxError::Lua(truncate(error_text(&e))))?;
        sandbox.run_chunk(chunk)?;
        Ok(sandbox)
    }

    /// Writes the script's globals to `path` (`preserve_data`).
    pub fn save_state(&self, path: &Path) -> Result<preserve::SaveStats, preserve::PreserveError> {
        limits::unlimited(&self.lua, || {
            preserve::save(&self.lua, path, &self.baseline)
        })
        .map_err(|e| preserve::PreserveError::Serialise {
            path: path.to_path_buf(),
            source: e,
        })?
    }

    /// Restores globals saved by [`Sandbox::save_state`], after the main
    /// chunk ran; a bad file leaves the state as the script built it.
    pub fn restore_state(
        &self,
        path: &Path,
    ) -> Result<preserve::RestoreOutcome, preserve::PreserveError> {
        let wrap = |e: mlua::Error| preserve::PreserveError::Serialise {
            path: path.to_path_buf(),
            source: e,
        };
        // Saved circular buffers come back through their module.
        let module = circular_buffer::open(&self.lua).map_err(wrap)?;
        let restore: Function = module.raw_get("restore").map_err(wrap)?;
        let constructors =
            preserve::Constructors::default().with(circular_buffer::NAME, "restore", restore);
        limits::unlimited(&self.lua, || {
            preserve::restore_with(&self.lua, path, &constructors)
        })
        .map_err(wrap)?
    }

    /// Whether the script defines a global function `name`.
    pub fn has_function(&self, name: &str) -> bool {
        matches!(self.globals.raw_get::<Value>(name), Ok(Value::Function(_)))
    }

    /// Bytes of Lua memory in use.
    pub fn memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// What the sandbox has used (the report figures), memory sampled now.
    pub fn usage(&self) -> &Usage {
        self.usage.sample_memory(self.lua.used_memory());
        &self.usage
    }

    /// The usage figures, shared: readable while the sandbox runs on
    /// another thread (memory as the hook last sampled it).
    pub fn usage_handle(&self) -> Arc<Usage> {
        self.usage.clone()
    }

    /// A handle that stops the running call from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop.clone())
    }

    /// Calls `process_message()`: returns its status and optional error text.
    pub fn process_message(
        &mut self,
        call: Call<'_>,
    ) -> Result<(i64, Option<String>), SandboxError> {
        const NAME: &str = "process_message";
        let returned = self.call_entry(&self.keys.process_message, None, call, NAME)?;
        let Some(status) = returned.status else {
            return Err(SandboxError::Lua(format!(
                "{NAME}() must return a numeric status code"
            )));
        };
        let text = match returned.message {
            Message::None => None,
            Message::Text(t) => Some(truncate(String::from_utf8_lossy(&t).into_owned())),
            Message::Other => {
                return Err(SandboxError::Lua(format!(
                    "{NAME}() must return a nil or string error message"
                )));
            }
        };
        Ok((status, text))
    }

    /// Calls `timer_event(ns)` (when defined), then collects garbage fully.
    pub fn timer_event(&mut self, now_ns: i64, call: Call<'_>) -> Result<(), SandboxError> {
        const NAME: &str = "timer_event";
        if !self.has_function(NAME) {
            return Ok(());
        }
        self.call_entry(&self.keys.timer_event, Some(now_ns as f64), call, NAME)?;
        let _ = self.lua.gc_collect();
        Ok(())
    }

    /// Calls the entry point `key` through the driver.
    fn call_entry(
        &self,
        key: &mlua::LuaString,
        arg: Option<f64>,
        call: Call<'_>,
        name: &str,
    ) -> Result<Returned, SandboxError> {
        let mut frame = Frame::new(call);
        limits::begin(&self.lua, &self.budget).map_err(setup)?;
        let result = {
            let _lent = self.slot.enter(&mut frame);
            match arg {
                None => self.driver.call::<()>(key),
                Some(ns) => self.driver.call::<()>((key, ns)),
            }
        };
        self.finish(result, name)?;
        Ok(frame.returned)
    }

    /// Runs the script's main chunk.
    fn run_chunk(&self, chunk: Function) -> Result<(), SandboxError> {
        let mut frame = Frame::new(Call::default());
        limits::begin(&self.lua, &self.budget).map_err(setup)?;
        let result = {
            let _lent = self.slot.enter(&mut frame);
            chunk.call::<()>(())
        };
        self.finish(result, "")
    }

    /// Maps a call's outcome to the sandbox's errors.
    fn finish(&self, result: mlua::Result<()>, name: &str) -> Result<(), SandboxError> {
        if let Some(why) = self.budget.doom() {
            return Err(SandboxError::Abort(why));
        }
        result.map_err(|e| {
            if is_memory(&e) {
                SandboxError::Memory
            } else if name.is_empty() {
                SandboxError::Lua(truncate(error_text(&e)))
            } else {
                SandboxError::Lua(truncate(format!("{name}() {}", error_text(&e))))
            }
        })
    }
}

fn setup(e: mlua::Error) -> SandboxError {
    SandboxError::Setup(error_text(&e))
}

fn is_memory(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } => is_memory(cause),
        mlua::Error::RuntimeError(s) => s.contains("not enough memory"),
        _ => false,
    }
}

/// The error's message without mlua's prefixes and tracebacks.
fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(s) => match s.find("\nstack traceback:") {
            Some(at) => s[..at].to_owned(),
            None => s.clone(),
        },
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::MemoryError(s) => s.clone(),
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        other => other.to_string(),
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > ERROR_SIZE {
        let mut end = ERROR_SIZE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}
