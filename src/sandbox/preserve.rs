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

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use mlua::chunk::ChunkMode;
use mlua::{AnyUserData, Function, Lua, LuaString, Table, Value};

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

/// The data file's text for the current globals, without writing it.
pub fn serialise(lua: &Lua, baseline: &Baseline) -> mlua::Result<(Vec<u8>, SaveStats)> {
    let globals = lua.globals();
    let mut w = Writer::default();
    w.skip.insert(globals.to_pointer() as usize);
    for v in baseline.globals.values() {
        if matches!(v, Value::Table(_) | Value::UserData(_)) {
            w.skip.insert(v.to_pointer() as usize);
        }
    }
    let version = number(&globals.raw_get::<Value>(VERSION_GLOBAL)?).unwrap_or(0.0);
    w.out
        .extend_from_slice(b"if _PRESERVATION_VERSION and _PRESERVATION_VERSION ~= ");
    w.out.extend_from_slice(number_source(version).as_bytes());
    w.out.extend_from_slice(b" then return end\nlocal R = {}\n");
    for (k, v) in sorted_entries(&globals)? {
        if !baseline.covers(&k, &v) && w.entry(b"_G", &k, &v)? {
            w.stats.globals += 1;
        }
    }
    while let Some((table, path)) = w.pending.pop_front() {
        for (k, v) in sorted_entries(&table)? {
            w.entry(&path, &k, &v)?;
        }
    }
    w.close_part();
    writeln!(w.out, "return \"{END_MARKER}\"").expect("writing to a Vec cannot fail");
    w.stats.bytes = w.out.len();
    Ok((w.out, w.stats))
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

/// Statements per part function: Lua 5.1 allows 2^18 constants per
/// function, and a line adds at most a few.
const PART_LINES: usize = 4096;

/// Paths longer than this are replaced by an alias `R[n]` (a local table of
/// the data file), so deep nesting and long keys do not make the file grow
/// with the square of the depth.
const ALIAS_AFTER: usize = 256;

/// Breadth-first writer state.
#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    /// Lines written in the open part function (0: none open).
    part_lines: usize,
    /// Aliases handed out.
    aliases: usize,
    /// Path of every table or userdata already written, by address.
    named: HashMap<usize, Vec<u8>>,
    /// Addresses never written: `_G` and the baseline's tables.
    skip: HashSet<usize>,
    /// Tables assigned `{}` whose contents are still to be written.
    pending: VecDeque<(Table, Vec<u8>)>,
    stats: SaveStats,
}

impl Writer {
    /// Writes `parent[key] = value` if the value can be kept.
    fn entry(&mut self, parent: &[u8], key: &Value, value: &Value) -> mlua::Result<bool> {
        let Some(key_src) = scalar_source(key) else {
            self.stats.skipped += 1;
            return Ok(false);
        };
        let mut path = Vec::with_capacity(parent.len() + key_src.len() + 2);
        path.extend_from_slice(parent);
        path.push(b'[');
        path.extend_from_slice(&key_src);
        path.push(b']');
        let (id, constructor) = match value {
            Value::Nil => return Ok(false),
            Value::Table(t) => {
                let id = t.to_pointer() as usize;
                let keep = self.named.contains_key(&id)
                    || !(self.skip.contains(&id) || t.metatable().is_some());
                (id, keep.then(|| b"{}".to_vec()))
            }
            Value::UserData(ud) => {
                let id = ud.to_pointer() as usize;
                let src = if self.named.contains_key(&id) || self.skip.contains(&id) {
                    None
                } else {
                    userdata_source(ud)?
                };
                (id, src)
            }
            other => match scalar_source(other) {
                Some(src) => {
                    self.line(&path, &src);
                    return Ok(true);
                }
                None => (0, None),
            },
        };
        if let Some(name) = self.named.get(&id) {
            let name = name.clone();
            self.line(&path, &name);
            return Ok(true);
        }
        let Some(constructor) = constructor else {
            self.stats.skipped += 1;
            return Ok(false);
        };
        let name = if path.len() > ALIAS_AFTER {
            self.aliases += 1;
            let alias = format!("R[{}]", self.aliases).into_bytes();
            self.line(&alias, &constructor);
            self.line(&path, &alias);
            alias
        } else {
            self.line(&path, &constructor);
            path
        };
        if let Value::Table(t) = value {
            self.pending.push_back((t.clone(), name.clone()));
            self.stats.tables += 1;
        }
        self.named.insert(id, name);
        Ok(true)
    }

    /// Writes `lhs = rhs`, inside a part function.
    fn line(&mut self, lhs: &[u8], rhs: &[u8]) {
        if self.part_lines == 0 {
            self.out.extend_from_slice(b"do local function part()\n");
        }
        self.out.extend_from_slice(lhs);
        self.out.extend_from_slice(b" = ");
        self.out.extend_from_slice(rhs);
        self.out.push(b'\n');
        self.part_lines += 1;
        if self.part_lines == PART_LINES {
            self.close_part();
        }
    }

    fn close_part(&mut self) {
        if self.part_lines > 0 {
            self.out.extend_from_slice(b"end part() end\n");
            self.part_lines = 0;
        }
    }
}

/// The entries of `table` (raw), in a stable order so files diff well.
fn sorted_entries(table: &Table) -> mlua::Result<Vec<(Value, Value)>> {
    let mut entries = table
        .pairs::<Value, Value>()
        .collect::<mlua::Result<Vec<_>>>()?;
    entries.sort_by(|(a, _), (b, _)| key_order(a, b));
    Ok(entries)
}

fn key_order(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Boolean(_) => 0,
            Value::Integer(_) | Value::Number(_) => 1,
            Value::String(_) => 2,
            _ => 3,
        }
    }
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Value::Boolean(x), Value::Boolean(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.as_bytes()[..].cmp(&y.as_bytes()[..]),
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => Ordering::Equal,
        },
    })
}

/// The hook's `require("module").constructor("data")`, if the userdata has one.
fn userdata_source(ud: &AnyUserData) -> mlua::Result<Option<Vec<u8>>> {
    // Userdata not registered through mlua (e.g. from a C module) has no
    // metatable mlua will show; it is skipped like any userdata without a hook.
    let Ok(metatable) = ud.metatable() else {
        return Ok(None);
    };
    let Value::Function(hook) = metatable.get::<Value>(PRESERVE_METAMETHOD)? else {
        return Ok(None);
    };
    let (module, constructor, data): (LuaString, LuaString, LuaString) = hook.call(ud.clone())?;
    let (module, constructor) = (module.as_bytes().to_vec(), constructor.as_bytes().to_vec());
    if !is_identifier(&module) || !is_identifier(&constructor) {
        return Err(mlua::Error::runtime(format!(
            "{PRESERVE_METAMETHOD} must name a module and constructor that are identifiers"
        )));
    }
    let mut src = b"require(\"".to_vec();
    src.extend_from_slice(&module);
    src.extend_from_slice(b"\").");
    src.extend_from_slice(&constructor);
    src.push(b'(');
    src.extend_from_slice(&string_source(&data.as_bytes()));
    src.push(b')');
    Ok(Some(src))
}

fn is_identifier(name: &[u8]) -> bool {
    name.first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Source for a boolean, number or string; `None` for anything else.
fn scalar_source(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::Boolean(true) => Some(b"true".to_vec()),
        Value::Boolean(false) => Some(b"false".to_vec()),
        // mlua gives integral Lua 5.1 numbers as i64 only when exact.
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(n) => Some(number_source(*n).into_bytes()),
        Value::String(s) => Some(string_source(&s.as_bytes())),
        _ => None,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// A Lua 5.1 expression evaluating to exactly `n`.
fn number_source(n: f64) -> String {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.is_nan() {
        "(0/0)".to_owned()
    } else if n.is_infinite() {
        if n > 0.0 { "(1/0)" } else { "(-1/0)" }.to_owned()
    } else if n == 0.0 && n.is_sign_negative() {
        // Never a literal `-0`: Lua 5.1 keeps one constant per value in a
        // function and -0 == 0, so a folded -0 would also turn every other
        // `0` of the part into -0 (and `1/0` into -inf). Computed at run time.
        "(-1/(1/0))".to_owned()
    } else if n.fract() == 0.0 && n.abs() < EXACT {
        (n as i64).to_string()
    } else {
        format!("{n:e}")
    }
}

/// A quoted Lua string literal for any bytes.
fn string_source(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\{b:03}").as_bytes()),
        }
    }
    out.push(b'"');
    out
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
