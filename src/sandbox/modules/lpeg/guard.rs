//! Wrappers closing two gaps of LPeg 1.0.2 that would let a script crash
//! hekad (abort the whole process), not just its own sandbox:
//!
//! - C stack: LPeg checks and compiles patterns with C functions that
//!   recurse once per nesting level, with no depth limit of their own, so
//!   `for i = 1, 20000 do p = lpeg.C(p) end p:match ""` overflows a 2 MiB
//!   thread stack with a pattern of about 160 KiB. Every function and
//!   operator that builds a pattern from patterns is wrapped: the wrapper
//!   computes the new pattern's nesting from its arguments', refuses past
//!   [`MAX_NESTING`], and records it in a weak table.
//! - Half-compiled code: LPeg compiles a pattern on its first match and
//!   keeps the code in the pattern. When that compilation runs out of
//!   memory, the pattern keeps a partial program, and the next match runs
//!   it (an assertion failure in Debian's build). `match` is wrapped: a
//!   pattern's first match goes through [`Guard::first_match`], and a
//!   pattern whose first match ran out of memory is refused afterwards.
//!
//! The original functions are held only by the wrappers (Rust closures and
//! upvalues of a chunk with an empty environment), out of a script's reach;
//! they never depend on globals a script could have replaced.

use std::sync::{Arc, Mutex};

use mlua::chunk::ChunkMode;
use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Table, Value};

/// Deepest pattern nesting a script may build, in levels of LPeg's
/// recursive C functions. Measured on a 2 MiB thread stack: about 10,800
/// nested captures, predicates or ordered choices (or `p^-n` with
/// n ≈ 10,800), or 1,950 nested grammars, overflow it; 2,000 levels use
/// about 400 KiB.
pub const MAX_NESTING: u32 = 2000;
/// Levels a grammar (`lpeg.P{...}`) adds (measured ≈ 5.6).
const GRAMMAR_LEVELS: u32 = 6;
/// Levels each rule of a grammar adds (its `TRule` node, a call into it).
const RULE_LEVELS: u32 = 2;
/// Registry key of LPeg's pattern metatable (`luaL_newmetatable`).
const PATTERN_META: &str = "lpeg-pattern";

/// How a wrapped function's result nests its arguments.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// `lpeg.P`: a pattern argument is returned as it is.
    Convert,
    /// One level over the first argument (captures, `-p`, `#p`, `p/x`).
    Wrap,
    /// One level over the deeper of the first two (`+`, `-`).
    Either,
    /// `*`: LPeg turns sequence chains right-nested and compiles them
    /// iteratively, so a chain is one level over its deepest element
    /// however long it is.
    Sequence,
    /// `p^n`: one level, or |n| + 1 for n < 0 (nested choices).
    Power,
}

const FUNCTIONS: &[(&str, Shape)] = &[
    ("P", Shape::Convert),
    ("B", Shape::Wrap),
    ("C", Shape::Wrap),
    ("Cf", Shape::Wrap),
    ("Cg", Shape::Wrap),
    ("Cmt", Shape::Wrap),
    ("Cs", Shape::Wrap),
    ("Ct", Shape::Wrap),
];
const METAMETHODS: &[(&str, Shape)] = &[
    ("__add", Shape::Either),
    ("__sub", Shape::Either),
    ("__mul", Shape::Sequence),
    ("__unm", Shape::Wrap),
    ("__len", Shape::Wrap),
    ("__div", Shape::Wrap),
    ("__pow", Shape::Power),
];

/// The `match` wrapper: a compiled pattern (status 1) goes straight to
/// LPeg's `match` as a tail call; anything else through `first`, which
/// returns `true, results...` or `false, message`. `raise` is the global
/// `error` as it was when LPeg was opened: it only ever sees a message.
const MATCH: &str = r#"
local match, status, first, raise = ...
local function finish(ok, ...)
    if ok then return ... end
    return raise((...), 0)
end
return function(p, ...)
    if status[p] == 1 then return match(p, ...) end
    return finish(first(p, ...))
end
"#;

/// `status` values of a pattern (absent: never matched).
const COMPILED: i64 = 1;
const COMPILING: i64 = 2;
const BROKEN: i64 = 3;

/// Wraps LPeg's functions in `lpeg` (its module table, also the pattern
/// metatable's `__index`) and the pattern metatable.
pub(super) fn install(lua: &Lua, lpeg: &Table) -> mlua::Result<()> {
    let meta: Table = lua.named_registry_value(PATTERN_META)?;
    let index: Value = meta.raw_get("__index")?;
    if index.to_pointer() != lpeg.to_pointer() {
        return Err(mlua::Error::runtime(
            "lpeg: unexpected LPeg build (no pattern metatable)",
        ));
    }
    let weak = || -> mlua::Result<Table> {
        let t = lua.create_table()?;
        let mode = lua.create_table()?;
        mode.raw_set("__mode", "k")?;
        t.set_metatable(Some(mode))?;
        Ok(t)
    };
    let guard = Guard {
        depth: weak()?,
        chains: weak()?,
        status: weak()?,
        active: Arc::default(),
    };
    for (table, list) in [(lpeg, FUNCTIONS), (&meta, METAMETHODS)] {
        for &(name, shape) in list {
            let original: Function = table.raw_get(name)?;
            let guard = guard.clone();
            let wrapper = lua
                .create_function(move |_, args: MultiValue| guard.build(&original, shape, args))?;
            table.raw_set(name, wrapper)?;
        }
    }
    let original: Function = lpeg.raw_get("match")?;
    let first = {
        let (guard, original) = (guard.clone(), original.clone());
        lua.create_function(move |lua, args: MultiValue| guard.first_match(lua, &original, args))?
    };
    let raise: Value = lua.globals().raw_get("error")?;
    let wrapper: Function = lua
        .load(MATCH)
        .set_name("=lpeg.match")
        .set_mode(ChunkMode::Text)
        .set_environment(lua.create_table()?)
        .call((original, guard.status.clone(), first, raise))?;
    lpeg.raw_set("match", wrapper)
}

/// What the wrappers know about the patterns built so far (weak keys).
#[derive(Clone)]
struct Guard {
    /// Nesting of each pattern built by a wrapper (others count 1).
    depth: Table,
    /// Patterns built by `*`.
    chains: Table,
    /// [`COMPILED`], [`COMPILING`] or [`BROKEN`].
    status: Table,
    /// Patterns (by address) in their first match on this state.
    active: Arc<Mutex<Vec<usize>>>,
}

impl Guard {
    fn build(&self, original: &Function, shape: Shape, args: MultiValue) -> mlua::Result<Value> {
        let first = args.front().unwrap_or(&Value::Nil);
        let second = args.get(1).unwrap_or(&Value::Nil);
        let depth = match shape {
            Shape::Convert => self.of(first)?,
            Shape::Wrap => self.of(first)?.saturating_add(1),
            Shape::Either => self.of(first)?.max(self.of(second)?).saturating_add(1),
            Shape::Sequence => self.link(first)?.max(self.link(second)?),
            Shape::Power => {
                let n = match second {
                    Value::Integer(n) => *n as f64,
                    Value::Number(n) => *n,
                    _ => 0.0,
                };
                let levels = if n < 0.0 {
                    (-n).min(f64::from(MAX_NESTING)) as u32 + 1
                } else {
                    1
                };
                self.of(first)?.saturating_add(levels)
            }
        };
        if depth > MAX_NESTING {
            return Err(mlua::Error::runtime(format!(
                "lpeg: pattern nesting {depth} exceeds hekad's limit of {MAX_NESTING} \
                 (deeper patterns could overflow the C stack)"
            )));
        }
        let out: Value = original.call(args.clone())?;
        // A result that is one of the arguments (`lpeg.P(p)`, `p * true`)
        // keeps its own nesting.
        let fresh = matches!(out, Value::UserData(_))
            && args.iter().all(|a| a.to_pointer() != out.to_pointer());
        if fresh {
            self.depth.raw_set(&out, depth)?;
            if shape == Shape::Sequence {
                self.chains.raw_set(&out, true)?;
            }
        }
        Ok(out)
    }

    /// The nesting of a pattern argument: a recorded pattern's, a grammar
    /// table's, or 1 (strings, numbers, … become flat patterns).
    ///
    /// A grammar counts the *sum* of its rules: LPeg's analyses
    /// (`getfirst`, `nullable`, `fixedlen`, …) follow calls into other rules
    /// from nested positions, so one C recursion can cross every rule, but
    /// each only once (a second time would be left recursion, which LPeg
    /// rejects, or a call they already visited, which they cut short).
    fn of(&self, v: &Value) -> mlua::Result<u32> {
        Ok(match v {
            Value::UserData(_) => self.depth.raw_get::<Option<u32>>(v)?.unwrap_or(1),
            Value::Table(t) => {
                let mut sum = GRAMMAR_LEVELS;
                for pair in t.pairs::<Value, Value>() {
                    let (_, rule) = pair?;
                    let depth = match rule {
                        Value::UserData(_) => self.of(&rule)?,
                        _ => 1,
                    };
                    sum = sum.saturating_add(depth.saturating_add(RULE_LEVELS));
                }
                sum
            }
            _ => 1,
        })
    }

    /// The nesting of `v` as an element of a sequence chain.
    fn link(&self, v: &Value) -> mlua::Result<u32> {
        let chain = matches!(v, Value::UserData(_)) && self.chains.raw_get::<bool>(v)?;
        Ok(self.of(v)?.saturating_add(u32::from(!chain)))
    }

    /// `match` on a pattern not known to be compiled. LPeg compiles on the
    /// first match, and its only failure there is "not enough memory"; so a
    /// memory error in a pattern's first match marks it broken. (A memory
    /// error raised later in that match, by a capture, marks it too: the
    /// script has to build the pattern again.) A match of the same pattern
    /// from inside its first one (an `lpeg.Cmt` function) runs after the
    /// compilation and passes through; a pattern left "compiling" by a
    /// first match that could not record its outcome counts as broken.
    fn first_match(
        &self,
        lua: &Lua,
        original: &Function,
        args: MultiValue,
    ) -> mlua::Result<MultiValue> {
        let p = args.front().cloned().unwrap_or(Value::Nil);
        let key = p.to_pointer() as usize;
        let pattern = matches!(p, Value::UserData(_));
        let status = if pattern {
            self.status.raw_get::<Option<i64>>(&p)?
        } else {
            None
        };
        let inside = || self.active.lock().map_or(true, |a| a.contains(&key));
        if status == Some(BROKEN) || (status == Some(COMPILING) && !inside()) {
            return (
                false,
                "lpeg: this pattern ran out of memory while compiling; build it again",
            )
                .into_lua_multi(lua);
        }
        let first = pattern && status.is_none();
        if first {
            // Allocates, so it happens before LPeg can run short of memory.
            self.status.raw_set(&p, COMPILING)?;
            if let Ok(mut a) = self.active.lock() {
                a.push(key);
            }
        }
        let out = original.call::<MultiValue>(args);
        if first {
            if let Ok(mut a) = self.active.lock() {
                if let Some(at) = a.iter().rposition(|k| *k == key) {
                    a.swap_remove(at);
                }
            }
            let next = match &out {
                Ok(_) => Value::Integer(COMPILED),
                Err(e) if is_memory(e) => Value::Integer(BROKEN),
                Err(_) => Value::Nil,
            };
            // The limit may be all but spent: lift it for this one write
            // (if the write still fails, "compiling" stays, read as broken).
            let limit = lua.set_memory_limit(0)?;
            let written = self.status.raw_set(&p, next);
            lua.set_memory_limit(limit)?;
            written?;
        }
        match out {
            Ok(mut values) => {
                values.push_front(Value::Boolean(true));
                Ok(values)
            }
            Err(e) => (false, message(&e)).into_lua_multi(lua),
        }
    }
}

fn is_memory(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } => is_memory(cause),
        mlua::Error::RuntimeError(s) => s.contains("not enough memory"),
        _ => false,
    }
}

/// The error's message as Lua raised it, without mlua's traceback.
fn message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(s) => match s.find("\nstack traceback:") {
            Some(at) => s[..at].to_owned(),
            None => s.clone(),
        },
        mlua::Error::MemoryError(s) => s.clone(),
        mlua::Error::CallbackError { cause, .. } => message(cause),
        other => other.to_string(),
    }
}
