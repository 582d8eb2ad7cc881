//! Heka's `preserve_data` (spec §5.7): a sandbox's global variables written
//! to a Lua data file when the plugin stops, and read back after the script's
//! top-level chunk has run on the next start (or after a hot reload,
//! ARCHITECTURE §4), so counters and windows survive restarts.
//!
//! The sandbox runner calls [`baseline`] once the environment is built and
//! before the script runs, [`restore`] right after the script's top-level
//! chunk, and [`save`] on shutdown. Everything here works on any
//! [`mlua::Lua`], so it does not depend on how the VM is built.
//!
//! # File format
//!
//! Lua source, as Heka wrote it, so a person can read or edit it:
//!
//! ```lua
//! if _PRESERVATION_VERSION and _PRESERVATION_VERSION ~= 2 then return end
//! local R = {}
//! do local function part()
//! _G["count"] = 10
//! _G["t"] = {}
//! _G["u"] = _G["t"]
//! _G["t"]["a"] = 1.5e0
//! _G["t"]["self"] = _G["t"]
//! end part() end
//! return "hekad preserve_data end"
//! ```
//!
//! - The first line is Heka's version guard; it keeps the file usable by a
//!   Heka that runs it straight in `_G`. Here the version rule is applied in
//!   Rust instead (see [`restore`]).
//! - Tables are written breadth first: a table gets the path where it is
//!   first met, `{}` is assigned there, and every later reference is that
//!   path, so shared tables stay shared and cycles close.
//! - A path longer than 256 bytes is replaced by an alias: `R[7] = {}`,
//!   then `<path> = R[7]`, and the table's entries are written under
//!   `R[7]`, so deep nesting does not make the file grow with the square of
//!   the depth.
//! - Statements are grouped into `part` functions of at most 4096 lines,
//!   because Lua 5.1 allows 2^18 constants per function ("constant table
//!   overflow" otherwise). Nested functions share the chunk's environment.
//! - Numbers: integral values below 2^53 print as integers, others as
//!   Rust's shortest round-trip `{:e}` (exact through `strtod`); infinities
//!   are `(1/0)` and `(-1/0)`, NaN is `(0/0)` (restored as some NaN) and
//!   negative zero is `(-1/(1/0))`, so every value comes back bit for bit.
//! - Strings are quoted; bytes outside printable ASCII are `\ddd`, always
//!   three digits so a following digit cannot join the escape.
//! - Skipped (counted in [`SaveStats::skipped`]): functions, threads, light
//!   userdata, tables that have a metatable (objects with behaviour; Heka
//!   skips them too), `_G` itself, the baseline's tables wherever they
//!   appear, and entries whose key is not a boolean, number or string
//!   (tables as keys would need their own definition before the key is used;
//!   Heka did not keep them either).
//! - Userdata are kept only through the [`PRESERVE_METAMETHOD`] extension
//!   point, written as `require("module").constructor("data")`.
//! - The last line returns [`END_MARKER`]; a file that does not return it
//!   was cut short and is rejected as truncated.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use mlua::chunk::ChunkMode;
use mlua::{Function, Lua, LuaString, Table, Value};

mod write;

pub use write::serialise;

/// The global a script sets to a number to version its preserved state.
pub const VERSION_GLOBAL: &str = "_PRESERVATION_VERSION";

/// Metatable field of a userdata that can be preserved. It is called with
/// the userdata and returns three strings `module, constructor, data`; the
/// value is written as `require("module").constructor("data")` (e.g.
/// circular_buffer's `fromstring`). `module` and `constructor` must be Lua
/// identifiers. Restoring needs the constructor registered in
/// [`Constructors`]; the data file gets nothing else.
pub const PRESERVE_METAMETHOD: &str = "__preserve";

/// What the last line of a complete data file returns.
pub const END_MARKER: &str = "hekad preserve_data end";

/// Why preserved data could not be saved or restored.
#[derive(Debug, thiserror::Error)]
pub enum PreserveError {
    /// Reading the globals failed (a Lua error, e.g. from a preserve hook).
    #[error("cannot serialise the sandbox globals for {path}: {source}")]
    Serialise {
        /// The data file that was to be written.
        path: PathBuf,
        /// The Lua error.
        source: mlua::Error,
    },
    /// Writing or renaming the data file failed.
    #[error("cannot write preserved data {path}: {source}")]
    Write {
        /// The data file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The data file exists but cannot be read.
    #[error("cannot read preserved data {path}: {source}")]
    Read {
        /// The data file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The data file does not parse or fails while running.
    #[error("corrupt preserved data {path}: {source}")]
    Corrupt {
        /// The data file.
        path: PathBuf,
        /// The Lua error, with the file name and line.
        source: mlua::Error,
    },
    /// The data file ran but did not reach its last line.
    #[error("truncated preserved data {path}: the end marker is missing")]
    Truncated {
        /// The data file.
        path: PathBuf,
    },
}

/// What [`save`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaveStats {
    /// Top-level globals written.
    pub globals: usize,
    /// Distinct tables written (shared tables count once).
    pub tables: usize,
    /// Values left out (functions, threads, userdata without a hook, ...).
    pub skipped: usize,
    /// Size of the file.
    pub bytes: usize,
}

/// What [`restore`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RestoreOutcome {
    /// No data file: a first start.
    NoFile,
    /// The saved globals were copied into `_G`.
    Restored {
        /// Top-level globals restored.
        globals: usize,
    },
    /// The script's `_PRESERVATION_VERSION` differs from the saved one:
    /// the saved state was discarded and the script starts fresh.
    VersionChanged {
        /// The saved version (`None` if the old script did not set one,
        /// which Heka treats as 0).
        saved: Option<f64>,
        /// The version the freshly loaded script set.
        current: f64,
    },
}

/// The globals present before the script ran (the standard library and the
/// sandbox API), which [`save`] leaves out.
#[derive(Debug, Default)]
pub struct Baseline {
    // Holding the values keeps them alive, so a pointer cannot be reused by
    // a script table after the script drops a baseline table.
    globals: HashMap<Vec<u8>, Value>,
}

impl Baseline {
    /// Whether the global `key = value` is the environment's, unchanged.
    fn covers(&self, key: &Value, value: &Value) -> bool {
        match key {
            Value::String(k) => self
                .globals
                .get(&k.as_bytes()[..])
                .is_some_and(|v| raw_equal(v, value)),
            _ => false,
        }
    }
}

/// Snapshots the globals; call after the environment is built and before
/// the script runs.
pub fn baseline(lua: &Lua) -> mlua::Result<Baseline> {
    let mut globals = HashMap::new();
    for pair in lua.globals().pairs::<Value, Value>() {
        if let (Value::String(k), v) = pair? {
            globals.insert(k.as_bytes().to_vec(), v);
        }
    }
    Ok(Baseline { globals })
}

/// Writes the script's globals to `path` (creating its directory) through a
/// temporary file and a rename, so a crash leaves the old file or the new
/// one. As in Heka, a failed save also removes the old file: it predates this
/// run, and restoring it later would silently roll the state back.
///
/// Lua code runs only in preserve hooks; the caller may lift the instruction
/// limit around the call as Heka did.
pub fn save(lua: &Lua, path: &Path, baseline: &Baseline) -> Result<SaveStats, PreserveError> {
    let result = match serialise(lua, baseline) {
        Err(source) => Err(PreserveError::Serialise {
            path: path.to_path_buf(),
            source,
        }),
        Ok((text, stats)) => {
            write_atomic(path, &text)
                .map(|()| stats)
                .map_err(|source| PreserveError::Write {
                    path: path.to_path_buf(),
                    source,
                })
        }
    };
    if result.is_err() {
        let _ = fs::remove_file(path);
    }
    result
}

/// [`restore_with`] and no userdata constructors.
pub fn restore(lua: &Lua, path: &Path) -> Result<RestoreOutcome, PreserveError> {
    restore_with(lua, path, &Constructors::default())
}

/// Reads `path` back into `_G`; call after the script's top-level chunk, so
/// saved values overwrite the script's initial ones.
///
/// The file runs as text only (bytecode is refused) in an environment
/// holding nothing but `_G`, a fresh staging table, and a `require` limited
/// to `constructors` when any are given: it can build data, not reach the
/// host, `os` or the script's globals. (Strings keep their metatable, so
/// string methods are reachable; they only compute.) It runs in the
/// sandbox's own state, so under its memory limit and any instruction hook
/// the caller has set. Only when it completes and the version rule allows it
/// are the staged globals copied into `_G`: a corrupt or truncated file
/// returns an error and leaves the state as the script built it, and the
/// caller may log it and go on fresh. (A memory error while copying could
/// still leave some globals restored.)
///
/// Version rule (Heka's): if the script set a numeric `_PRESERVATION_VERSION`
/// that differs from the saved one (0 when none was saved), the state is
/// discarded. If the script set none, the state is restored.
pub fn restore_with(
    lua: &Lua,
    path: &Path,
    constructors: &Constructors,
) -> Result<RestoreOutcome, PreserveError> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(RestoreOutcome::NoFile),
        Err(source) => {
            return Err(PreserveError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let corrupt = |source| PreserveError::Corrupt {
        path: path.to_path_buf(),
        source,
    };
    let staged = lua.create_table().map_err(corrupt)?;
    let returned = run_data(lua, path, &text, &staged, constructors).map_err(corrupt)?;
    if !matches!(&returned, Value::String(s) if s.as_bytes() == END_MARKER.as_bytes()) {
        return Err(PreserveError::Truncated {
            path: path.to_path_buf(),
        });
    }
    apply(lua, &staged).map_err(corrupt)
}

fn run_data(
    lua: &Lua,
    path: &Path,
    text: &[u8],
    staged: &Table,
    constructors: &Constructors,
) -> mlua::Result<Value> {
    let env = lua.create_table()?;
    env.raw_set("_G", staged)?;
    if let Some(require) = constructors.require(lua)? {
        env.raw_set("require", require)?;
    }
    lua.load(text)
        .set_name(format!("@{}", path.display()))
        .set_mode(ChunkMode::Text)
        .set_environment(env)
        .call(())
}

fn apply(lua: &Lua, staged: &Table) -> mlua::Result<RestoreOutcome> {
    let globals = lua.globals();
    let saved = number(&staged.raw_get::<Value>(VERSION_GLOBAL)?);
    if let Some(current) = number(&globals.raw_get::<Value>(VERSION_GLOBAL)?)
        && current != saved.unwrap_or(0.0)
    {
        return Ok(RestoreOutcome::VersionChanged { saved, current });
    }
    let mut count = 0;
    for pair in staged.pairs::<Value, Value>() {
        let (k, v) = pair?;
        globals.raw_set(k, v)?;
        count += 1;
    }
    Ok(RestoreOutcome::Restored { globals: count })
}

/// The userdata constructors a data file may call as
/// `require("module").name(...)` (see [`PRESERVE_METAMETHOD`]).
#[derive(Debug, Clone, Default)]
pub struct Constructors {
    entries: Vec<(String, String, Function)>,
}

impl Constructors {
    /// Allows `require(module).name` in data files.
    pub fn with(mut self, module: &str, name: &str, constructor: Function) -> Self {
        self.entries
            .push((module.to_owned(), name.to_owned(), constructor));
        self
    }

    /// A `require` over fresh tables holding only the registered functions.
    fn require(&self, lua: &Lua) -> mlua::Result<Option<Function>> {
        if self.entries.is_empty() {
            return Ok(None);
        }
        let modules = lua.create_table()?;
        for (module, name, constructor) in &self.entries {
            let table = match modules.raw_get::<Value>(module.as_str())? {
                Value::Table(t) => t,
                _ => {
                    let t = lua.create_table()?;
                    modules.raw_set(module.as_str(), &t)?;
                    t
                }
            };
            table.raw_set(name.as_str(), constructor)?;
        }
        lua.create_function(
            move |_, name: LuaString| match modules.raw_get::<Value>(&name)? {
                Value::Table(t) => Ok(t),
                _ => Err(mlua::Error::runtime(format!(
                    "module '{}' has no preserve constructor",
                    name.to_string_lossy()
                ))),
            },
        )
        .map(Some)
    }
}

/// A Lua number as `f64`, whichever way mlua handed it over.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// Raw equality: same scalar, or the same object.
fn raw_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Boolean(x), Value::Boolean(y)) => x == y,
        (Value::String(x), Value::String(y)) => x.as_bytes() == y.as_bytes(),
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x.to_bits() == y.to_bits(),
            (None, None) => {
                let p = a.to_pointer();
                !p.is_null() && p == b.to_pointer()
            }
            _ => false,
        },
    }
}

/// Writes `data` to a sibling temporary file, syncs it and renames it over
/// `path`.
fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests;
