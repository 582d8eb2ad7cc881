//! `require "cjson"`: JSON for sandbox scripts, with the lua-cjson API that
//! Heka's lua_sandbox exposed (a global `cjson` table).
//!
//! Functions:
//! - `cjson.encode(value)` → JSON text. Tables whose keys are all positive
//!   integers encode as arrays (holes become `null`), unless the array would be
//!   "excessively sparse" (largest index > 2 × number of keys and > 10): those
//!   encode as objects, as lua-cjson's `encode_sparse_array(true)` does (its
//!   default raised an error instead). Any other table is an object; number
//!   keys become strings (`{[2.5]=1}` → `{"2.5":1}`), other key types are an
//!   error. The empty table is `{}` unless `encode_empty_table_as_object(false)`.
//!   Strings are written byte for byte (invalid UTF-8 passes through, as in
//!   lua-cjson) with `"` `\` `/` and control characters escaped (`/` as `\/`
//!   and DEL as `\u007f`, like lua-cjson). `cjson.null` (and any NULL light
//!   userdata) and `nil` encode as `null`.
//! - `cjson.decode(text)` → Lua value. Objects and arrays become tables
//!   (arrays 1-based), numbers doubles. JSON `null` is dropped (the key is
//!   absent, an array keeps the hole) unless `cjson.decode_null(true)` was
//!   called, then it decodes to `cjson.null`; Heka's sandbox cjson behaved so.
//! - `cjson.null`: the NULL light userdata sentinel.
//! - `cjson.decode_null([bool])`, `cjson.encode_empty_table_as_object([bool])`:
//!   set the option for this Lua state when given a boolean; return it.
//!
//! Numbers: where lua-cjson printed `%.14g` (losing digits of nanosecond
//! timestamps), hekad prints integral values below 2^63 as exact integers and
//! others in their shortest round-trip form (`0.1`, `1.5e-7`, `1e300`); NaN
//! and infinities are an error. `-0` prints as `0`.
//!
//! Limits: encoding deeper than [`MAX_DEPTH`] (127) levels, which includes any
//! cycle, is an error "Cannot serialise, excessive nesting (128)"; decoding
//! nests at most 127 levels too (serde_json's recursion limit). lua-cjson
//! allowed 1000, but each level here is a nested protected call into Lua and
//! Lua 5.1 stops C call nesting at 200 ("C stack overflow"), so 127 keeps a
//! clean error and stays symmetric: whatever encodes also decodes.
//! Every decoded value is created through the Lua state, so it counts against
//! `Lua::set_memory_limit`; the encoder's buffer lives on the Rust heap and is
//! bounded by [`set_output_limit`] ("output_limit exceeded"), as Heka bounded
//! it by the sandbox's output_limit. Lua-cjson's `new()` and
//! `encode_keep_buffer()` were disabled in Heka and are absent here, as are
//! the other tuning functions (`encode_number_precision`, `encode_max_depth`,
//! `decode_max_depth`, `encode_invalid_numbers`, ...).
//!
//! Errors are Lua errors whose messages follow lua-cjson's ("Cannot serialise
//! function: type not supported", "Expected value at character 1", ...).

use mlua::{Error, LightUserData, Lua, Table, Value};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::fmt;

/// The name scripts pass to `require`.
pub const NAME: &str = "cjson";

/// Deepest table nesting `encode` accepts (serde_json's decode limit).
pub const MAX_DEPTH: usize = 127;

/// Per-Lua-state cjson options, kept as mlua app data.
#[derive(Clone, Copy, Debug, Default)]
struct Settings {
    decode_null: bool,
    empty_table_as_array: bool,
    output_limit: Option<usize>,
}

fn settings(lua: &Lua) -> Settings {
    lua.app_data_ref::<Settings>()
        .map(|s| *s)
        .unwrap_or_default()
}

fn update(lua: &Lua, f: impl FnOnce(&mut Settings)) {
    let mut s = settings(lua);
    f(&mut s);
    lua.set_app_data(s);
}

/// Bounds the length of every string `cjson.encode` produces in `lua`
/// (Heka's sandbox output_limit, 63 KiB by default); longer output is the
/// Lua error "output_limit exceeded". Without a call, output is unbounded.
pub fn set_output_limit(lua: &Lua, bytes: usize) {
    update(lua, |s| s.output_limit = Some(bytes));
}

/// The `cjson.null` sentinel: a NULL light userdata, as lua-cjson used.
pub fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// Builds the `cjson` module table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("null", null())?;
    t.set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let out = encode(lua, &v)?;
            lua.create_string(out)
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, s: mlua::LuaString| decode(lua, &s.as_bytes()))?,
    )?;
    t.set(
        "decode_null",
        lua.create_function(|lua, on: Option<bool>| {
            if let Some(on) = on {
                update(lua, |s| s.decode_null = on);
            }
            Ok(settings(lua).decode_null)
        })?,
    )?;
    t.set(
        "encode_empty_table_as_object",
        lua.create_function(|lua, on: Option<bool>| {
            if let Some(on) = on {
                update(lua, |s| s.empty_table_as_array = !on);
            }
            Ok(!settings(lua).empty_table_as_array)
        })?,
    )?;
    Ok(t)
}

/// Encodes `v` as JSON bytes with `lua`'s cjson options.
pub fn encode(lua: &Lua, v: &Value) -> mlua::Result<Vec<u8>> {
    let s = settings(lua);
    let mut e = Encoder {
        out: Vec::new(),
        limit: s.output_limit.unwrap_or(usize::MAX),
        empty_as_array: s.empty_table_as_array,
    };
    e.value(v, 0)?;
    Ok(e.out)
}

fn err(msg: impl Into<String>) -> Error {
    Error::RuntimeError(msg.into())
}

struct Encoder {
    out: Vec<u8>,
    limit: usize,
    empty_as_array: bool,
}

impl Encoder {
    /// Appends raw bytes, enforcing the output limit as the buffer grows so
    /// a huge table never builds a huge Rust buffer.
    fn push(&mut self, b: &[u8]) -> mlua::Result<()> {
        if self.out.len() + b.len() > self.limit {
            return Err(err("output_limit exceeded"));
        }
        self.out.extend_from_slice(b);
        Ok(())
    }

    fn value(&mut self, v: &Value, depth: usize) -> mlua::Result<()> {
        match v {
            Value::Nil => self.push(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.push(b"null"),
            Value::Boolean(b) => self.push(if *b { b"true" } else { b"false" }),
            Value::Integer(i) => self.number(*i as f64),
            Value::Number(n) => self.number(*n),
            Value::String(s) => self.string(&s.as_bytes()),
            Value::Table(t) => self.table(t, depth + 1),
            other => Err(err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))),
        }
    }

    fn number(&mut self, n: f64) -> mlua::Result<()> {
        if !n.is_finite() {
            return Err(err("Cannot serialise number: must not be NaN or Infinity"));
        }
        let mut s = String::new();
        super::write_number(&mut s, n);
        self.push(s.as_bytes())
    }

    fn string(&mut self, s: &[u8]) -> mlua::Result<()> {
        self.push(b"\"")?;
        let mut start = 0;
        for (i, &c) in s.iter().enumerate() {
            let esc: &[u8] = match c {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'/' => b"\\/",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0..0x20 | 0x7f => b"",
                _ => continue,
            };
            self.push(&s[start..i])?;
            start = i + 1;
            if esc.is_empty() {
                self.push(format!("\\u{c:04x}").as_bytes())?;
            } else {
                self.push(esc)?;
            }
        }
        self.push(&s[start..])?;
        self.push(b"\"")
    }

    fn table(&mut self, t: &Table, depth: usize) -> mlua::Result<()> {
        if depth > MAX_DEPTH {
            return Err(err(format!(
                "Cannot serialise, excessive nesting ({depth})"
            )));
        }
        // First pass: is it an array? Keys only, so no value refs pile up
        // on mlua's reference stack while deeper levels are encoded.
        let (mut count, mut max, mut array) = (0usize, 0usize, true);
        t.for_each(|k: Value, _: Value| {
            count += 1;
            match array_index(&k) {
                Some(i) => max = max.max(i),
                None => array = false,
            }
            Ok(())
        })?;
        if count == 0 {
            return self.push(if self.empty_as_array { b"[]" } else { b"{}" });
        }
        if array && !(max > count * 2 && max > 10) {
            self.push(b"[")?;
            for i in 1..=max {
                if i > 1 {
                    self.push(b",")?;
                }
                let v: Value = t.raw_get(i)?;
                self.value(&v, depth)?;
            }
            return self.push(b"]");
        }
        self.push(b"{")?;
        let mut first = true;
        t.for_each(|k: Value, v: Value| {
            if !first {
                self.push(b",")?;
            }
            first = false;
            match &k {
                Value::String(s) => self.string(&s.as_bytes())?,
                Value::Integer(_) | Value::Number(_) => {
                    let n = match k {
                        Value::Integer(i) => i as f64,
                        Value::Number(n) => n,
                        _ => unreachable!(),
                    };
                    let mut s = String::new();
                    super::write_number(&mut s, n);
                    self.string(s.as_bytes())?;
                }
                _ => {
                    return Err(err(
                        "Cannot serialise table: table key must be a number or string",
                    ));
                }
            }
            self.push(b":")?;
            self.value(&v, depth)
        })?;
        self.push(b"}")
    }
}

/// The array index a key stands for: a positive integral number.
fn array_index(k: &Value) -> Option<usize> {
    match *k {
        Value::Integer(i) if i >= 1 => usize::try_from(i).ok(),
        Value::Number(n) if n >= 1.0 && n.fract() == 0.0 && n < 9.0e15 => Some(n as usize),
        _ => None,
    }
}

/// Decodes JSON `text` into a Lua value built in `lua`.
pub fn decode(lua: &Lua, text: &[u8]) -> mlua::Result<Value> {
    let lua_err = RefCell::new(None);
    let seed = Seed {
        lua,
        decode_null: settings(lua).decode_null,
        lua_err: &lua_err,
    };
    let mut de = serde_json::Deserializer::from_slice(text);
    let result = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match result {
        Ok(v) => Ok(v),
        // A Lua failure (out of memory) inside the visitor outranks the
        // serde error it was smuggled through.
        Err(e) => Err(lua_err.take().unwrap_or_else(|| decode_error(text, &e))),
    }
}

/// Rewrites serde_json's "... at line L column C" as lua-cjson's
/// "... at character N" (a 1-based byte offset).
fn decode_error(text: &[u8], e: &serde_json::Error) -> Error {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg);
    let line_start: usize = text
        .split(|&b| b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    let at = (line_start + e.column()).max(1);
    let mut chars = msg.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase());
    err(format!(
        "{}{} at character {at}",
        first.map(String::from).unwrap_or_default(),
        chars.as_str()
    ))
}

/// Builds Lua values straight from the parser, without an intermediate
/// `serde_json::Value`, so all decoded data is Lua-allocated.
#[derive(Clone, Copy)]
struct Seed<'a> {
    lua: &'a Lua,
    decode_null: bool,
    lua_err: &'a RefCell<Option<Error>>,
}

impl Seed<'_> {
    fn lua<T, E: serde::de::Error>(&self, r: mlua::Result<T>) -> Result<T, E> {
        r.map_err(|e| {
            *self.lua_err.borrow_mut() = Some(e);
            E::custom("Lua error")
        })
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.lua(self.lua.create_string(v)).map(Value::String)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(if self.decode_null { null() } else { Value::Nil })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let t = self.lua(self.lua.create_table())?;
        let mut i = 1usize;
        while let Some(v) = seq.next_element_seed(self)? {
            if !v.is_nil() {
                self.lua(t.raw_set(i, v))?;
            }
            i += 1;
        }
        Ok(Value::Table(t))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let t = self.lua(self.lua.create_table())?;
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(self)?;
            if !v.is_nil() {
                let k = self.lua(self.lua.create_string(&k))?;
                self.lua(t.raw_set(k, v))?;
            }
        }
        Ok(Value::Table(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lua() -> Lua {
        let lua = Lua::new();
        let m = open(&lua).unwrap();
        lua.globals().set("cjson", m).unwrap();
        lua
    }

    fn eval<T: mlua::FromLua>(lua: &Lua, code: &str) -> T {
        lua.load(code)
            .eval()
            .unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    fn fails(lua: &Lua, code: &str) -> String {
        match lua.load(code).exec() {
            Ok(()) => panic!("{code}: no error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn encodes_scalars_arrays_objects() {
        let lua = lua();
        let enc = |code: &str| eval::<String>(&lua, &format!("return cjson.encode({code})"));
        assert_eq!(
            enc("{1, 2.5, 'x', true, false}"),
            r#"[1,2.5,"x",true,false]"#
        );
        assert_eq!(enc("{a = {b = {1, {}}}}"), r#"{"a":{"b":[1,{}]}}"#);
        assert_eq!(enc("{[1] = 1, [3] = 3}"), "[1,null,3]");
        assert_eq!(enc("{[1] = 1, [20] = 2}"), r#"{"1":1,"20":2}"#);
        assert_eq!(enc("{[2.5] = 1}"), r#"{"2.5":1}"#);
        assert_eq!(enc("1700000000123456789"), "1700000000123456768");
        assert_eq!(enc("0.1"), "0.1");
        assert_eq!(enc("cjson.null"), "null");
        assert_eq!(enc("nil"), "null");
        assert_eq!(enc("{1, cjson.null}"), "[1,null]");
        assert_eq!(
            enc(r#""a\"b\\c/d\n\t\1\127é""#),
            r#""a\"b\\c\/d\n\t\u0001\u007fé""#
        );
    }

    #[test]
    fn empty_table_option() {
        let lua = lua();
        assert_eq!(eval::<String>(&lua, "return cjson.encode({})"), "{}");
        let was: bool = eval(&lua, "return cjson.encode_empty_table_as_object(false)");
        assert!(!was);
        assert_eq!(eval::<String>(&lua, "return cjson.encode({})"), "[]");
        assert!(eval::<bool>(
            &lua,
            "return cjson.encode_empty_table_as_object(true)"
        ));
    }

    #[test]
    fn round_trips() {
        let lua = lua();
        let code = r#"
            local v = {1, "two", {three = 3, four = {4.25, -5e-7}}, "\"q\" \\ \226\130\172 /"}
            local s = cjson.encode(v)
            local d = cjson.decode(s)
            assert(cjson.encode(d) == s, s .. " vs " .. cjson.encode(d))
            assert(d[3].four[2] == -5e-7 and d[4] == v[4])
            return s"#;
        let s: String = eval(&lua, code);
        assert!(s.starts_with(r#"[1,"two",{"#), "{s}");
        assert!(s.ends_with(r#"},"\"q\" \\ € \/"]"#), "{s}");
    }

    #[test]
    fn decodes_values_and_unicode() {
        let lua = lua();
        let code = r#"
            local d = cjson.decode('{"a":[1,2,{"b":"\\u00e9\\ud83d\\ude00\\n"}],"n":1e3,"t":true,"e":{}}')
            assert(d.a[1] == 1 and d.a[3].b == "\195\169\240\159\152\128\n")
            assert(d.n == 1000 and d.t == true and next(d.e) == nil)
            return true"#;
        assert!(eval::<bool>(&lua, code));
    }

    #[test]
    fn null_dropped_unless_decode_null() {
        let lua = lua();
        let code = r#"
            local d = cjson.decode('{"a":null,"b":[1,null,3]}')
            assert(d.a == nil and d.b[2] == nil and d.b[3] == 3)
            assert(cjson.decode("null") == nil)
            assert(cjson.decode_null(true) == true)
            d = cjson.decode('{"a":null,"b":[1,null]}')
            assert(d.a == cjson.null and d.b[2] == cjson.null)
            return cjson.encode(d.b)"#;
        assert_eq!(eval::<String>(&lua, code), "[1,null]");
    }

    #[test]
    fn encode_errors() {
        let lua = lua();
        let e = fails(&lua, "cjson.encode({f = print})");
        assert!(
            e.contains("Cannot serialise function: type not supported"),
            "{e}"
        );
        let e = fails(&lua, "cjson.encode({[true] = 1})");
        assert!(e.contains("table key must be a number or string"), "{e}");
        let e = fails(&lua, "cjson.encode(0/0)");
        assert!(e.contains("must not be NaN or Infinity"), "{e}");
        let e = fails(&lua, "cjson.encode({1/0})");
        assert!(e.contains("must not be NaN or Infinity"), "{e}");
        let e = fails(&lua, "local t = {} t[1] = t cjson.encode(t)");
        assert!(e.contains("excessive nesting (128)"), "{e}");
        let e = fails(&lua, "local t = {a = {}} t.a.b = t cjson.encode(t)");
        assert!(e.contains("excessive nesting"), "{e}");
        // 127 levels are fine (and decode again), 128 are not.
        let deep =
            "local function nest(n) local t = {} for i = 1, n - 1 do t = {t} end return t end";
        let s: String = eval(
            &lua,
            &format!("{deep} local s = cjson.encode(nest(127)) cjson.decode(s) return s"),
        );
        assert_eq!(s.len(), 254);
        let e = fails(&lua, &format!("{deep} cjson.encode(nest(128))"));
        assert!(e.contains("excessive nesting (128)"), "{e}");
        // pcall catches it and the state stays usable.
        let ok: bool = eval(&lua, "return (pcall(cjson.encode, print)) == false");
        assert!(ok);
    }

    #[test]
    fn output_limit() {
        let lua = lua();
        set_output_limit(&lua, 11);
        assert_eq!(
            eval::<String>(&lua, "return cjson.encode({1,2,3,4,5})"),
            "[1,2,3,4,5]"
        );
        let e = fails(&lua, "cjson.encode({1,2,3,4,5,6})");
        assert!(e.contains("output_limit exceeded"), "{e}");
        let e = fails(&lua, "cjson.encode(string.rep('x', 100000))");
        assert!(e.contains("output_limit exceeded"), "{e}");
    }

    #[test]
    fn decode_errors() {
        let lua = lua();
        let e = fails(&lua, "cjson.decode('x')");
        assert!(e.contains("Expected value at character 1"), "{e}");
        let e = fails(&lua, "cjson.decode('[1,2')");
        assert!(e.contains("EOF while parsing a list at character"), "{e}");
        let e = fails(&lua, "cjson.decode('{\"a\":1}\\n x')");
        assert!(e.contains("Trailing characters at character 10"), "{e}");
        let e = fails(&lua, "cjson.decode('')");
        assert!(e.contains("at character 1"), "{e}");
        let e = fails(
            &lua,
            "cjson.decode(string.rep('[', 200) .. string.rep(']', 200))",
        );
        assert!(e.contains("Recursion limit exceeded"), "{e}");
    }

    #[test]
    fn decode_counts_against_lua_memory() {
        let lua = lua();
        let big = format!(
            "[{}1]",
            "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",".repeat(100_000)
        );
        lua.globals().set("big", big).unwrap();
        lua.set_memory_limit(lua.used_memory() + 1_000_000).unwrap();
        let e = fails(&lua, "local t = cjson.decode(big)");
        assert!(e.contains("memory"), "{e}");
        lua.set_memory_limit(0).unwrap();
        assert_eq!(eval::<f64>(&lua, "return #cjson.decode(big)"), 100_001.0);
    }
}
