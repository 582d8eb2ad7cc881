//! `read_message` as a raw Lua C function: the one API call a script makes
//! per message, so it skips mlua's callback layer (argument conversion,
//! panic guard, error boxing: about 200 ns a call) and pushes the value
//! straight onto the Lua stack. It finds the current message through the
//! call's [`Slot`], an upvalue of the closure.
//!
//! Safety rules this file keeps, because a Lua error unwinds C frames with
//! `longjmp`:
//! - nothing that can raise (pushing a value may allocate and fail) runs
//!   while a Rust value that needs dropping is alive on this frame, and
//!   error texts are `&'static str`;
//! - the slot is emptied while the frame is borrowed and restored before
//!   anything is pushed, so code the garbage collector might run during a
//!   push can never see a second live borrow of the frame.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use heka_proto::{FieldValue, MessageView, UUID_TEXT_LEN};
use mlua::{Function, Lua, ffi};

use super::api::Slot;

/// What to push, computed before anything is pushed. Texts point into the
/// current message, which outlives the call.
enum Push {
    Nil,
    Text(*const u8, usize),
    Uuid([u8; UUID_TEXT_LEN]),
    Number(f64),
    Integer(i64),
    Bool(bool),
}

fn text(bytes: &[u8]) -> Push {
    Push::Text(bytes.as_ptr(), bytes.len())
}

/// Creates the `read_message` closure for a state whose calls go through
/// `slot` (kept alive by the state's app data).
pub(crate) fn create(lua: &Lua, slot: &Arc<Slot>) -> mlua::Result<Function> {
    let ptr = Arc::as_ptr(slot) as *mut c_void;
    // SAFETY: pushes a light userdata and a C closure; nothing else.
    unsafe {
        lua.exec_raw((), |state| {
            ffi::lua_pushlightuserdata(state, ptr);
            ffi::lua_pushcclosure(state, read_message, 1);
        })
    }
}

/// A non-negative index argument (nil or absent = 0).
///
/// SAFETY: `state` is a live Lua state inside a C function call.
unsafe fn index(state: *mut ffi::lua_State, at: c_int) -> Result<usize, &'static str> {
    // SAFETY: reading stack slots of the running C function.
    unsafe {
        match ffi::lua_type(state, at) {
            ffi::LUA_TNONE | ffi::LUA_TNIL => Ok(0),
            ffi::LUA_TNUMBER => {
                let n = ffi::lua_tonumber(state, at);
                if n >= 0.0 {
                    Ok(n as usize)
                } else {
                    Err("read_message() indices must be numbers >= 0")
                }
            }
            _ => Err("read_message() indices must be numbers >= 0"),
        }
    }
}

/// What `read_message(name, field_index, array_index)` reads from `msg`.
fn lookup(msg: &MessageView, name: &[u8], fi: usize, ai: usize) -> Push {
    match name {
        b"Type" => text(msg.r#type()),
        b"Logger" => text(msg.logger()),
        b"Payload" => text(msg.payload()),
        b"EnvVersion" => text(msg.env_version()),
        b"Hostname" => text(msg.hostname()),
        b"Uuid" => msg.uuid_text().map_or(Push::Nil, Push::Uuid),
        b"Timestamp" => Push::Number(msg.timestamp() as f64),
        // Unset means nil here, not the protobuf default (HEKA-SPEC §5.3).
        b"Severity" => msg
            .severity_if_set()
            .map_or(Push::Nil, |s| Push::Integer(s.into())),
        b"Pid" => msg
            .pid_if_set()
            .map_or(Push::Nil, |p| Push::Integer(p.into())),
        b"raw" if msg.raw().is_empty() => Push::Nil,
        b"raw" => text(msg.raw()),
        n if n.starts_with(b"Fields[") && n.ends_with(b"]") => {
            match msg.field_value(&n[7..n.len() - 1], fi, ai) {
                None | Some(FieldValue::Bytes(b"")) => Push::Nil,
                Some(FieldValue::String(s) | FieldValue::Bytes(s)) => text(s),
                Some(FieldValue::Integer(i)) => Push::Number(i as f64),
                Some(FieldValue::Double(d)) => Push::Number(d),
                Some(FieldValue::Bool(b)) => Push::Bool(b),
            }
        }
        _ => Push::Nil,
    }
}

/// Reads the arguments and the message into a [`Push`].
///
/// SAFETY: `state` is a live Lua state inside a C function call.
unsafe fn compute(state: *mut ffi::lua_State, slot: &Slot) -> Result<Push, &'static str> {
    // SAFETY: stack reads of the running C function; the name's bytes stay
    // valid while the string is on the stack (all of this call).
    let (name, fi, ai) = unsafe {
        let top = ffi::lua_gettop(state);
        if !(1..=3).contains(&top) {
            return Err("read_message() takes 1 to 3 arguments");
        }
        if ffi::lua_type(state, 1) != ffi::LUA_TSTRING {
            return Err("read_message() name must be a string");
        }
        let mut len = 0usize;
        let ptr = ffi::lua_tolstring(state, 1, &mut len);
        let name = std::slice::from_raw_parts(ptr.cast::<u8>(), len);
        (name, index(state, 2)?, index(state, 3)?)
    };
    let push = slot.with(|frame| match frame {
        None => Err("read_message() is only available in process_message and timer_event"),
        Some(frame) => Ok(frame
            .current()
            .map_or(Push::Nil, |msg| lookup(msg, name, fi, ai))),
    })?;
    Ok(push)
}

/// The C function behind `read_message`.
unsafe extern "C-unwind" fn read_message(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: upvalue 1 is the slot pointer `create` installed; the slot
    // lives as long as the state. See the module docs for the error path.
    unsafe {
        let slot = &*(ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)) as *const Slot);
        match compute(state, slot) {
            Ok(Push::Nil) => ffi::lua_pushnil(state),
            Ok(Push::Text(ptr, len)) => {
                ffi::lua_pushlstring(state, ptr.cast(), len);
            }
            Ok(Push::Uuid(t)) => {
                ffi::lua_pushlstring(state, t.as_ptr().cast(), t.len());
            }
            Ok(Push::Number(n)) => ffi::lua_pushnumber(state, n),
            Ok(Push::Integer(i)) => ffi::lua_pushinteger(state, i as ffi::lua_Integer),
            Ok(Push::Bool(b)) => ffi::lua_pushboolean(state, c_int::from(b)),
            Err(why) => {
                ffi::lua_pushlstring(state, why.as_ptr().cast(), why.len());
                ffi::lua_error(state);
            }
        }
        1
    }
}
