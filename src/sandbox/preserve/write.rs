//! The writer half of [`super`]: the breadth-first walk from `_G` that turns
//! the script's globals into the data file's Lua statements.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;

use mlua::{AnyUserData, Lua, LuaString, Table, Value};

use super::{Baseline, END_MARKER, PRESERVE_METAMETHOD, SaveStats, VERSION_GLOBAL, number};

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

/// Statements per part function: Lua 5.1 allows 2^18 constants per
/// function, and a line adds at most a few.
const PART_LINES: usize = 4096;

/// Paths longer than this are replaced by an alias `R[n]` (a local table of
/// the data file), so deep nesting and long keys do not make the file grow
/// with the square of the depth.
pub(super) const ALIAS_AFTER: usize = 256;

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
