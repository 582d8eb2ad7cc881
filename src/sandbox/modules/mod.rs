//! Native Lua modules that Heka sandbox scripts load with `require`.
//!
//! Heka's lua_sandbox linked C modules into every sandbox; hekad writes the
//! two that Heka's own scripts lean on in Rust, so any [`mlua::Lua`] can load
//! them and everything they build for Lua goes through the Lua allocator
//! (and thus `Lua::set_memory_limit`):
//!
//! - [`cjson`]: `require "cjson"`, JSON encode/decode with lua-cjson's API.
//! - [`circular_buffer`]: `require "circular_buffer"`, the time-series ring
//!   behind Heka's graphs (`cbuf` and `cbufd` payloads).
//! - [`lpeg`]: `require "lpeg"` and `require "re"` with the cargo feature
//!   `lpeg`, which links Debian's LPeg (C) instead of a Rust rewrite.
//!
//! The sandbox's `require` calls [`open`] with the module name and stores
//! the returned table as the global of the same name, as Heka did.

use mlua::{Lua, Table};
use std::fmt::Write;

pub mod circular_buffer;
pub mod cjson;
pub mod lpeg;

/// Builds the native module `name` in `lua`, or `None` if hekad has no
/// native module by that name (the caller then looks for a Lua file).
pub fn open(lua: &Lua, name: &str) -> Option<mlua::Result<Table>> {
    match name {
        cjson::NAME => Some(cjson::open(lua)),
        circular_buffer::NAME => Some(circular_buffer::open(lua)),
        #[cfg(feature = "lpeg")]
        lpeg::NAME => Some(lpeg::open(lua)),
        #[cfg(feature = "lpeg")]
        lpeg::RE_NAME => Some(lpeg::open_re(lua)),
        _ => None,
    }
}

/// Appends `v` as text that both JSON parsers and Lua's `tonumber` read back
/// to the same double: integral values below 2^63 print as integers (no
/// decimal point, so nanosecond timestamps stay exact), other finite values
/// as Rust's shortest round-trip form (exponent form below 1e-5 or for huge
/// integral values). NaN and infinities print as `nan`, `inf`, `-inf`
/// (callers that need JSON reject them first).
pub(crate) fn write_number(out: &mut String, v: f64) {
    // Writing to a String cannot fail.
    let _ = if v.is_nan() {
        out.write_str("nan")
    } else if v.is_infinite() {
        out.write_str(if v > 0.0 { "inf" } else { "-inf" })
    } else if v.fract() == 0.0 {
        if v.abs() < 9.2e18 {
            write!(out, "{}", v as i64)
        } else {
            write!(out, "{v:e}")
        }
    } else if v.abs() >= 1e-5 {
        write!(out, "{v}")
    } else {
        write!(out, "{v:e}")
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: f64) -> String {
        let mut s = String::new();
        write_number(&mut s, v);
        s
    }

    #[test]
    fn numbers_print_exactly_and_compactly() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(-42.0), "-42");
        assert_eq!(num(1.7e18), "1700000000000000000");
        assert_eq!(num(0.1), "0.1");
        assert_eq!(num(1.5e-7), "1.5e-7");
        assert_eq!(num(1e300), "1e300");
        assert_eq!(num(f64::NAN), "nan");
        assert_eq!(num(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn open_dispatches_by_name() {
        let lua = Lua::new();
        assert!(open(&lua, "cjson").unwrap().is_ok());
        assert!(open(&lua, "circular_buffer").unwrap().is_ok());
        assert_eq!(open(&lua, "lpeg").is_some(), cfg!(feature = "lpeg"));
        assert!(open(&lua, "nope").is_none());
    }
}
