//! Calling a script's entry points (`process_message`, `timer_event`)
//! through one raw C function, the driver, so the per-message path crosses
//! mlua once (`driver.call(name, args...)`, nothing converted back). The
//! driver resets the thread's globals to the script's table (a script's
//! `setfenv(0, t)` cannot hide the entry points), looks the entry point up,
//! calls it, and leaves what it returned in the call's [`Frame`] through
//! the [`Slot`]. A Lua error inside the entry point unwinds through the
//! driver to mlua's protected call, which reports it as before.
//!
//! Safety rules (as in `read.rs`): nothing that can raise a Lua error runs
//! while a Rust value needing a drop is alive on the driver's frame; error
//! texts are `&'static str`.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use mlua::{Function, Lua, Table, ffi};

use super::api::Slot;

/// What an entry point returned, as far as the host cares.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Returned {
    /// The first result when it is a number.
    pub(crate) status: Option<i64>,
    /// The second result.
    pub(crate) message: Message,
}

/// The second result of an entry point.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum Message {
    /// `nil` or nothing.
    #[default]
    None,
    /// A string.
    Text(Vec<u8>),
    /// Anything else (an error for `process_message`).
    Other,
}

const NOT_FOUND: &str = "function was not found";

/// Creates the driver for `globals` (the script's table) and `slot`.
pub(crate) fn create(lua: &Lua, globals: &Table, slot: &Arc<Slot>) -> mlua::Result<Function> {
    let ptr = Arc::as_ptr(slot) as *mut c_void;
    // SAFETY: pushes the globals table, a light userdata and a C closure
    // over them; the slot lives as long as the state (its app data).
    unsafe {
        lua.exec_raw(globals, |state| {
            ffi::lua_pushlightuserdata(state, ptr);
            ffi::lua_pushcclosure(state, drive, 2);
        })
    }
}

/// `driver(name, ...)`: calls the global function `name` with `...`.
unsafe extern "C-unwind" fn drive(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: upvalue 1 is the globals table and upvalue 2 the slot
    // pointer, as `create` made them; stack indices are those of this call.
    unsafe {
        let globals = ffi::lua_upvalueindex(1);
        ffi::lua_pushvalue(state, globals);
        ffi::lua_replace(state, ffi::LUA_GLOBALSINDEX);
        let nargs = ffi::lua_gettop(state) - 1;
        ffi::lua_pushvalue(state, 1);
        if ffi::lua_rawget(state, globals) != ffi::LUA_TFUNCTION {
            ffi::lua_pushlstring(state, NOT_FOUND.as_ptr().cast(), NOT_FOUND.len());
            ffi::lua_error(state);
        }
        ffi::lua_insert(state, 2);
        ffi::lua_call(state, nargs, 2);
        // Nothing below raises: types are checked before reading.
        let status = (ffi::lua_type(state, -2) == ffi::LUA_TNUMBER)
            .then(|| ffi::lua_tonumber(state, -2) as i64);
        let message = match ffi::lua_type(state, -1) {
            ffi::LUA_TNIL | ffi::LUA_TNONE => Message::None,
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let ptr = ffi::lua_tolstring(state, -1, &mut len);
                Message::Text(std::slice::from_raw_parts(ptr.cast::<u8>(), len).to_vec())
            }
            _ => Message::Other,
        };
        let slot = &*(ffi::lua_touserdata(state, ffi::lua_upvalueindex(2)) as *const Slot);
        slot.with(|frame| {
            if let Some(frame) = frame {
                frame.returned = Returned { status, message };
            }
        });
        0
    }
}
