//! The Lua 5.1 environment a sandbox script sees (HEKA-SPEC §5.5): the
//! library set, what is removed from it, and `require`.
//!
//! The libraries are chosen explicitly (`StdLib::ALL_SAFE` would bring `io`
//! and all of `os`): base, `string`, `table`, `math`, and `os` cut down to
//! `clock`, `date`, `difftime` and `time`. No `io`, `debug`, `package` or
//! `ffi`. From the base library Heka's analysis template (filters, decoders,
//! encoders) removes `collectgarbage coroutine dofile load loadfile
//! loadstring newproxy print`; its IO template (inputs, outputs) keeps
//! `collectgarbage`, `coroutine` and `newproxy`, adds `io`, and keeps all
//! of `os` but `exit` and `setlocale`. Nothing removed is kept in a
//! hidden table, so `getfenv`/`setfenv` only ever reach the script's own
//! globals.
//!
//! `require(name)` returns the built-in libraries by name, opens native
//! modules registered with [`register_native`] (also setting the global of
//! that name, as Heka's C modules did), and otherwise loads `name.lua` (dots
//! become directory separators) from the `module_directory` list, as text
//! only (never bytecode). Modules are cached per state.

use std::path::PathBuf;
use std::sync::RwLock;

use mlua::chunk::ChunkMode;
use mlua::{Lua, LuaOptions, StdLib, Table, Value};

/// Opens a native (Rust) module into a state and returns its table.
pub type NativeOpen = fn(&Lua) -> mlua::Result<Table>;

/// Native modules built into hekad (cjson, circular_buffer, … register here;
/// `lpeg` and `re` with the cargo feature `lpeg`).
pub const BUILTIN_NATIVE: &[(&str, NativeOpen)] = &[
    (super::modules::cjson::NAME, super::modules::cjson::open),
    (
        super::modules::circular_buffer::NAME,
        super::modules::circular_buffer::open,
    ),
    #[cfg(feature = "lpeg")]
    (super::modules::lpeg::NAME, super::modules::lpeg::open),
    #[cfg(feature = "lpeg")]
    (super::modules::lpeg::RE_NAME, super::modules::lpeg::open_re),
];

static NATIVE: RwLock<Vec<(String, NativeOpen)>> = RwLock::new(Vec::new());

/// Registers a native module `require` can open by `name`, in every sandbox
/// created afterwards; a later registration of the same name wins.
pub fn register_native(name: &str, open: NativeOpen) {
    let mut list = NATIVE.write().unwrap_or_else(|e| e.into_inner());
    list.retain(|(n, _)| n != name);
    list.push((name.to_owned(), open));
}

fn native(name: &str) -> Option<NativeOpen> {
    let list = NATIVE.read().unwrap_or_else(|e| e.into_inner());
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, f)| *f)
        .or_else(|| {
            BUILTIN_NATIVE
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| *f)
        })
}

/// Which of Heka's two sandbox environments to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// Filters, decoders and encoders.
    Analysis,
    /// Inputs and outputs (keeps `coroutine`, `collectgarbage`, `newproxy`).
    Io,
}

/// Base-library names every template removes.
const REMOVED_ALWAYS: &[&str] = &["dofile", "load", "loadfile", "loadstring", "print"];
/// Further base-library names the analysis template removes.
const REMOVED_ANALYSIS: &[&str] = &["collectgarbage", "coroutine", "newproxy"];
/// The `os` functions the analysis template keeps.
const OS_KEPT: &[&str] = &["clock", "date", "difftime", "time"];
/// The `os` functions the IO template removes.
const OS_REMOVED_IO: &[&str] = &["exit", "setlocale"];
/// Libraries `require` returns by name (when the template has them).
const LIBRARIES: &[&str] = &["string", "table", "math", "os", "io"];
/// Lua 5.1 runs an `xpcall` handler with hooks disabled when the error
/// came from a hook, so a looping handler would escape every limit. This
/// `xpcall` runs the handler after unwinding instead (hooks enabled); with
/// no `debug` library a script cannot tell the difference.
const XPCALL: &str = r#"
local pcall, select, unpack = pcall, select, unpack
local function pack(ok, ...) return ok, select('#', ...), {...} end
function xpcall(f, handler)
    local ok, n, r = pack(pcall(f))
    if ok then return true, unpack(r, 1, n) end
    return false, (handler(r[1]))
end
"#;
/// Registry key of the module cache.
const LOADED: &str = "heka.loaded";
/// Largest module file `require` reads.
const MAX_MODULE_BYTES: u64 = 4 * 1024 * 1024;

/// A new state with Heka's environment.
pub(crate) fn new_state(template: Template, module_dirs: Vec<PathBuf>) -> mlua::Result<Lua> {
    let mut libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::OS;
    if template == Template::Io {
        libs |= StdLib::IO;
    }
    let lua = Lua::new_with(libs, LuaOptions::default())?;
    let globals = lua.globals();
    let removed = REMOVED_ALWAYS.iter().chain(match template {
        Template::Analysis => REMOVED_ANALYSIS,
        Template::Io => &[],
    });
    for name in removed {
        globals.raw_set(*name, Value::Nil)?;
    }
    let os: Table = globals.get("os")?;
    if template == Template::Io {
        for name in OS_REMOVED_IO {
            os.raw_set(*name, Value::Nil)?;
        }
    } else {
        let keep = lua.create_table()?;
        for name in OS_KEPT {
            keep.raw_set(*name, os.raw_get::<Value>(*name)?)?;
        }
        globals.raw_set("os", keep)?;
    }
    lua.load(XPCALL).set_name("=xpcall").exec()?;

    lua.set_named_registry_value(LOADED, lua.create_table()?)?;
    let require =
        lua.create_function(move |lua, name: String| require(lua, &name, &module_dirs))?;
    globals.raw_set("require", require)?;
    Ok(lua)
}

fn require(lua: &Lua, name: &str, dirs: &[PathBuf]) -> mlua::Result<Value> {
    let loaded: Table = lua.named_registry_value(LOADED)?;
    let cached: Value = loaded.raw_get(name)?;
    if !cached.is_nil() {
        return Ok(cached);
    }
    let globals = lua.globals();
    let library: Value = match LIBRARIES.contains(&name) {
        true => globals.raw_get(name)?,
        false => Value::Nil,
    };
    let value = if !library.is_nil() {
        library
    } else if let Some(open) = native(name) {
        let table = open(lua)?;
        globals.raw_set(name, &table)?;
        Value::Table(table)
    } else {
        load_module(lua, name, dirs)?
    };
    loaded.raw_set(name, &value)?;
    Ok(value)
}

fn load_module(lua: &Lua, name: &str, dirs: &[PathBuf]) -> mlua::Result<Value> {
    let valid = !name.is_empty()
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if !valid {
        return Err(mlua::Error::runtime(format!(
            "require: invalid module name '{name}'"
        )));
    }
    let rel = format!("{}.lua", name.replace('.', "/"));
    for dir in dirs {
        let path = dir.join(&rel);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.len() > MAX_MODULE_BYTES {
            return Err(mlua::Error::runtime(format!("require: {rel} is too large")));
        }
        let source = std::fs::read(&path)
            .map_err(|e| mlua::Error::runtime(format!("require: {}: {e}", path.display())))?;
        let value: Value = lua
            .load(source)
            .set_name(format!("@{rel}"))
            .set_mode(ChunkMode::Text)
            .call(name)?;
        return Ok(if value.is_nil() {
            Value::Boolean(true)
        } else {
            value
        });
    }
    let why = super::modules::lpeg::missing(name).unwrap_or_default();
    Err(mlua::Error::runtime(format!(
        "module '{name}' not found{why}"
    )))
}
