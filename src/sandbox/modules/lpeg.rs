//! `require "lpeg"` and `require "re"` (cargo feature `lpeg`), as Heka's
//! lua_sandbox offered them.
//!
//! hekad does not carry LPeg: with the feature, `build.rs` links Debian's
//! static archive `liblua5.1-lpeg.a` (package `lua-lpeg-dev`, LPeg 1.0.2)
//! and copies `re.lua` (package `lua-lpeg`) into the build directory, where
//! `open_re` embeds it. The archive was compiled against Lua 5.1 headers;
//! its `lua_*`/`luaL_*` references resolve against mlua's vendored Lua 5.1.5
//! (same ABI), so it runs on the sandbox's own state:
//!
//! - Memory: LPeg allocates patterns, capture lists and its backtrack stack
//!   as userdata and compiles code through `lua_getallocf`, i.e. through
//!   mlua's allocator, so everything counts against `memory_limit` and an
//!   allocation past it raises "not enough memory" like any other.
//! - C stack and half-compiled code: LPeg's own gaps, closed by wrapping
//!   its functions (see `guard.rs`): pattern nesting is capped at
//!   `MAX_NESTING`, and a pattern whose compilation ran out of memory is
//!   never matched again.
//! - Time: a match runs in C, where Lua's count hook never fires. A pure
//!   pattern always terminates (LPeg rejects empty loops and left
//!   recursion) but backtracking through ordered choices can take time
//!   exponential in the subject (`S <- 'a' S 'x' / 'a' S 'y' / ''` takes
//!   about 1 s on 24 `a`s, twice as long per extra `a`). Such a match runs
//!   to its end. The wall-clock budget (`limits.rs`) is checked by the
//!   count hook, every `HOOK_STEP` Lua instructions: the first check after
//!   the match returns stops the call; a call that returns before the next
//!   check completes, late. Lua functions a pattern calls (`lpeg.Cmt`,
//!   function captures) run under the hook, so the instruction and time
//!   limits stop them inside a match.
//!
//! Without the feature neither module exists and `require` says why.

#[cfg(feature = "lpeg")]
mod guard;

#[cfg(feature = "lpeg")]
pub use guard::MAX_NESTING;
#[cfg(feature = "lpeg")]
pub use linked::{open, open_re};

/// `require "lpeg"`.
pub const NAME: &str = "lpeg";
/// `require "re"`.
pub const RE_NAME: &str = "re";

/// What `require` appends to "module 'lpeg' not found" (and for `re`) when
/// hekad was built without the feature.
pub fn missing(name: &str) -> Option<&'static str> {
    (!cfg!(feature = "lpeg") && (name == NAME || name == RE_NAME))
        .then_some(": hekad was built without the lpeg feature")
}

#[cfg(feature = "lpeg")]
mod linked {
    use mlua::chunk::ChunkMode;
    use mlua::{Lua, Table, Value};

    #[allow(unsafe_code)]
    unsafe extern "C-unwind" {
        /// LPeg's `lua_CFunction` opening the module (`liblua5.1-lpeg.a`).
        fn luaopen_lpeg(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int;
    }

    /// Debian's `re.lua`, copied by `build.rs`.
    const RE_SOURCE: &str = include_str!(concat!(env!("OUT_DIR"), "/re.lua"));
    /// Registry key of the guarded module table. LPeg is opened once per
    /// state: opening it again would put the unguarded functions back.
    const REGISTRY_KEY: &str = "hekad.lpeg";

    /// Opens LPeg in `lua` (once per state; later calls return the same
    /// table) with its functions guarded. LPeg (built for Lua 5.1) also sets
    /// the global `lpeg`.
    pub fn open(lua: &Lua) -> mlua::Result<Table> {
        if let Value::Table(t) = lua.named_registry_value::<Value>(REGISTRY_KEY)? {
            return Ok(t);
        }
        // SAFETY: `luaopen_lpeg` is a `lua_CFunction` compiled against the
        // Lua 5.1 headers, ABI-compatible with the Lua 5.1.5 mlua links; it
        // only uses the Lua C API on the state Lua calls it with, and its
        // errors are Lua errors raised inside `Function::call`'s protected
        // call.
        #[allow(unsafe_code)]
        let f = unsafe { lua.create_c_function(luaopen_lpeg)? };
        let lpeg: Table = f.call(())?;
        super::guard::install(lua, &lpeg)?;
        lua.set_named_registry_value(REGISTRY_KEY, &lpeg)?;
        Ok(lpeg)
    }

    /// Runs `re.lua` and returns its table. Its `require "lpeg"` is answered
    /// by [`open`] (not the script's `require`, which a script may replace);
    /// everything else it reads comes from the globals, and its
    /// `_G.re = re` sets the global `re`.
    pub fn open_re(lua: &Lua) -> mlua::Result<Table> {
        let lpeg = open(lua)?;
        let env = lua.create_table()?;
        let require = lua.create_function(move |_, name: String| match name.as_str() {
            super::NAME => Ok(lpeg.clone()),
            _ => Err(mlua::Error::runtime(format!(
                "re.lua: unexpected require '{name}'"
            ))),
        })?;
        env.raw_set("require", require)?;
        let meta = lua.create_table()?;
        meta.raw_set("__index", lua.globals())?;
        env.set_metatable(Some(meta))?;
        let re: Value = lua
            .load(RE_SOURCE)
            .set_name("@re.lua")
            .set_mode(ChunkMode::Text)
            .set_environment(env)
            .call(super::RE_NAME)?;
        match re {
            Value::Table(t) => Ok(t),
            other => Err(mlua::Error::runtime(format!(
                "re.lua returned a {} instead of a table",
                other.type_name()
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
