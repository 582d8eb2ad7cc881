//! Lua 5.1's pattern functions, `string.find`, `string.match`,
//! `string.gmatch` (and its 5.1 alias `gfind`) and `string.gsub`, rebuilt
//! on [`engine`] so they honour the sandbox's wall-clock budget and stop
//! flag: Lua's C versions run a backtracking matcher no hook can
//! interrupt, and a pattern like `(.-)(.-)(.-)(.-)x` on a long line would
//! hold the thread for hours.
//!
//! The behaviour is Lua 5.1's, quirks included: patterns end at their
//! first NUL byte, `find` with no special character (or `plain`) searches
//! bytes, an `init` past the end is clamped, `gmatch` reads `^` literally,
//! a replacement's `%` before a non-digit adds that character, and `gsub`
//! keeps the original text for a false/nil replacement. The installed
//! functions replace the ones in the `string` table, which is also the
//! string metatable's `__index`, so `s:find(p)` reaches them too.

mod engine;
#[cfg(test)]
mod tests;

use mlua::{Function, Lua, LuaString, MultiValue, Table, Value};

use engine::{Capture, Matcher, c_pattern};

use super::limits;

/// Characters that make `find` use the matcher (`SPECIALS` in lstrlib).
const SPECIALS: &[u8] = b"^$*+?.([%-";

/// Replaces the pattern functions of the state's `string` table.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let string: Table = lua.globals().raw_get("string")?;
    string.raw_set(
        "find",
        lua.create_function(|lua, (s, p, init, plain): (Value, Value, Value, Value)| {
            find(lua, "find", s, p, init, Some(plain))
        })?,
    )?;
    string.raw_set(
        "match",
        lua.create_function(|lua, (s, p, init): (Value, Value, Value)| {
            find(lua, "match", s, p, init, None)
        })?,
    )?;
    let gmatch = lua.create_function(|lua, (s, p): (Value, Value)| gmatch(lua, s, p))?;
    if !string.raw_get::<Value>("gfind")?.is_nil() {
        string.raw_set("gfind", &gmatch)?;
    }
    string.raw_set("gmatch", gmatch)?;
    string.raw_set(
        "gsub",
        lua.create_function(|lua, (s, p, repl, max): (Value, Value, Value, Value)| {
            gsub(lua, s, p, repl, max)
        })?,
    )?;
    Ok(())
}

fn bad_arg(n: usize, name: &str, want: &str, got: &Value) -> mlua::Error {
    mlua::Error::runtime(format!(
        "bad argument #{n} to '{name}' ({want} expected, got {})",
        if got.is_nil() {
            "no value"
        } else {
            got.type_name()
        }
    ))
}

/// A string argument, numbers converted as Lua does.
fn string_arg(lua: &Lua, v: Value, n: usize, name: &str) -> mlua::Result<LuaString> {
    match v {
        Value::String(s) => Ok(s),
        v @ (Value::Integer(_) | Value::Number(_)) => lua
            .coerce_string(v.clone())?
            .ok_or_else(|| bad_arg(n, name, "string", &v)),
        other => Err(bad_arg(n, name, "string", &other)),
    }
}

/// An optional integer argument (numbers truncate, numeric text converts).
fn int_arg(lua: &Lua, v: Value, default: i64, n: usize, name: &str) -> mlua::Result<i64> {
    match v {
        Value::Nil => Ok(default),
        Value::Integer(i) => Ok(i),
        Value::Number(f) => Ok(f as i64),
        other => match lua.coerce_number(other.clone())? {
            Some(f) => Ok(f as i64),
            None => Err(bad_arg(n, name, "number", &other)),
        },
    }
}

fn push_capture(
    lua: &Lua,
    m: &Matcher<'_>,
    i: usize,
    s: usize,
    e: usize,
    out: &mut MultiValue,
) -> mlua::Result<()> {
    out.push_back(match m.capture(i, s, e)? {
        Capture::Text(a, b) => Value::String(lua.create_string(&m.src[a..b])?),
        Capture::Position(at) => Value::Integer(at as i64),
    });
    Ok(())
}

/// Every capture of a match from `s` to `e`; the whole match when the
/// pattern has none and `whole` is set.
fn captures(
    lua: &Lua,
    m: &Matcher<'_>,
    s: usize,
    e: usize,
    whole: bool,
) -> mlua::Result<MultiValue> {
    let n = if m.level == 0 && whole { 1 } else { m.level };
    let mut out = MultiValue::with_capacity(n);
    for i in 0..n {
        push_capture(lua, m, i, s, e, &mut out)?;
    }
    Ok(out)
}

/// `find` (with `plain` set) and `match` (`plain` is `None`).
fn find(
    lua: &Lua,
    name: &str,
    s: Value,
    p: Value,
    init: Value,
    plain: Option<Value>,
) -> mlua::Result<MultiValue> {
    let s = string_arg(lua, s, 1, name)?;
    let p = string_arg(lua, p, 2, name)?;
    let (s, p) = (s.as_bytes(), p.as_bytes());
    let len = s.len() as i64;
    let mut init = int_arg(lua, init, 1, 3, name)?;
    if init < 0 {
        init = (init + len + 1).max(0);
    }
    let init = (init - 1).clamp(0, len) as usize;
    let pat = c_pattern(&p);
    if let Some(plain) = &plain {
        let literal = !matches!(plain, Value::Nil | Value::Boolean(false))
            || !pat.iter().any(|c| SPECIALS.contains(c));
        if literal {
            let found = if p.is_empty() {
                Some(0)
            } else {
                memchr::memmem::find(&s[init..], &p)
            };
            return Ok(match found {
                Some(at) => {
                    let start = (init + at) as i64;
                    MultiValue::from_iter([
                        Value::Integer(start + 1),
                        Value::Integer(start + p.len() as i64),
                    ])
                }
                None => MultiValue::from_iter([Value::Nil]),
            });
        }
    }
    let (anchor, pat) = match pat.strip_prefix(b"^") {
        Some(rest) => (true, rest),
        None => (false, pat),
    };
    let mut m = Matcher::new(lua, &s, pat);
    let mut start = init;
    loop {
        m.level = 0;
        if let Some(end) = m.run(start, 0)? {
            if plain.is_some() {
                let mut out = captures(lua, &m, start, end, false)?;
                out.push_front(Value::Integer(end as i64));
                out.push_front(Value::Integer(start as i64 + 1));
                return Ok(out);
            }
            return captures(lua, &m, start, end, true);
        }
        start += 1;
        if anchor || start > s.len() {
            return Ok(MultiValue::from_iter([Value::Nil]));
        }
    }
}

/// `gmatch(s, p)`: an iterator over successive matches (Lua 5.1: `^` is
/// not an anchor here, and an empty match moves on by one byte).
fn gmatch(lua: &Lua, s: Value, p: Value) -> mlua::Result<Function> {
    let s = string_arg(lua, s, 1, "gmatch")?;
    let p = string_arg(lua, p, 2, "gmatch")?;
    let mut next = 0usize;
    lua.create_function_mut(move |lua, ()| {
        let (src, pat) = (s.as_bytes(), p.as_bytes());
        let mut m = Matcher::new(lua, &src, c_pattern(&pat));
        let mut start = next;
        while start <= src.len() {
            m.level = 0;
            if let Some(end) = m.run(start, 0)? {
                next = if end == start { end + 1 } else { end };
                return captures(lua, &m, start, end, true);
            }
            start += 1;
        }
        next = start;
        Ok(MultiValue::new())
    })
}

/// `gsub(s, p, repl [, n])`.
fn gsub(lua: &Lua, s: Value, p: Value, repl: Value, max: Value) -> mlua::Result<(LuaString, i64)> {
    let s = string_arg(lua, s, 1, "gsub")?;
    let p = string_arg(lua, p, 2, "gsub")?;
    if !matches!(
        repl,
        Value::String(_)
            | Value::Integer(_)
            | Value::Number(_)
            | Value::Table(_)
            | Value::Function(_)
    ) {
        return Err(mlua::Error::runtime(
            "bad argument #3 to 'gsub' (string/function/table expected)",
        ));
    }
    let repl = match repl {
        v @ (Value::Integer(_) | Value::Number(_)) => Value::String(string_arg(lua, v, 3, "gsub")?),
        other => other,
    };
    let (src, pat) = (s.as_bytes(), p.as_bytes());
    let max = int_arg(lua, max, src.len() as i64 + 1, 4, "gsub")?;
    let (anchor, pat) = match c_pattern(&pat).strip_prefix(b"^") {
        Some(rest) => (true, rest),
        None => (false, c_pattern(&pat)),
    };
    let memory = limits::memory_limit(lua);
    let mut m = Matcher::new(lua, &src, pat);
    let mut out = Vec::with_capacity(src.len());
    let (mut at, mut n) = (0usize, 0i64);
    while n < max {
        m.level = 0;
        let end = m.run(at, 0)?;
        if let Some(e) = end {
            n += 1;
            replace(lua, &m, &repl, at, e, &mut out)?;
            if memory > 0 && out.len() > memory {
                return Err(mlua::Error::MemoryError("not enough memory".into()));
            }
        }
        match end {
            Some(e) if e > at => at = e,
            _ if at < src.len() => {
                out.push(src[at]);
                at += 1;
            }
            _ => break,
        }
        if anchor {
            break;
        }
    }
    out.extend_from_slice(&src[at..]);
    Ok((lua.create_string(&out)?, n))
}

/// Appends the replacement of the match from `s` to `e` to `out`.
fn replace(
    lua: &Lua,
    m: &Matcher<'_>,
    repl: &Value,
    s: usize,
    e: usize,
    out: &mut Vec<u8>,
) -> mlua::Result<()> {
    let value = match repl {
        Value::String(r) => {
            let r = r.as_bytes();
            let mut i = 0;
            while i < r.len() {
                if r[i] != b'%' {
                    out.push(r[i]);
                } else {
                    i += 1;
                    // A trailing `%` adds the string's terminating NUL, as 5.1 did.
                    let c = r.get(i).copied().unwrap_or(0);
                    if c == b'0' {
                        out.extend_from_slice(&m.src[s..e]);
                    } else if c.is_ascii_digit() {
                        let mut one = MultiValue::new();
                        push_capture(lua, m, usize::from(c - b'1'), s, e, &mut one)?;
                        append(lua, one.pop_front().unwrap_or(Value::Nil), out)?;
                    } else {
                        out.push(c);
                    }
                }
                i += 1;
            }
            return Ok(());
        }
        Value::Table(t) => {
            let mut key = MultiValue::new();
            push_capture(lua, m, 0, s, e, &mut key)?;
            t.get::<Value>(key.pop_front().unwrap_or(Value::Nil))?
        }
        Value::Function(f) => f.call::<Value>(captures(lua, m, s, e, true)?)?,
        _ => Value::Nil,
    };
    match value {
        Value::Nil | Value::Boolean(false) => out.extend_from_slice(&m.src[s..e]),
        Value::String(_) | Value::Integer(_) | Value::Number(_) => append(lua, value, out)?,
        other => {
            return Err(mlua::Error::runtime(format!(
                "invalid replacement value (a {})",
                other.type_name()
            )));
        }
    }
    Ok(())
}

fn append(lua: &Lua, v: Value, out: &mut Vec<u8>) -> mlua::Result<()> {
    if let Some(s) = lua.coerce_string(v)? {
        out.extend_from_slice(&s.as_bytes());
    }
    Ok(())
}
