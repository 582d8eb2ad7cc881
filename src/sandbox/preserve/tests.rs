//! Unit tests for [`super`]: values saved from one Lua 5.1 state and
//! restored into a fresh one, as across a hekad restart.

use std::fs;
use std::path::{Path, PathBuf};

use mlua::{FromLua, Lua, LuaString, UserData, UserDataMethods};

use super::write::ALIAS_AFTER;
use super::*;

fn state_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("sandbox_preservation").join("counter.data")
}

/// Saves after running `script` on top of a fresh baseline.
fn save_script(path: &Path, script: &str) -> (SaveStats, String) {
    let lua = Lua::new();
    let base = baseline(&lua).unwrap();
    lua.load(script).exec().unwrap();
    let stats = save(&lua, path, &base).unwrap();
    (
        stats,
        String::from_utf8_lossy(&fs::read(path).unwrap()).into_owned(),
    )
}

/// A fresh state that ran `script`, then restored `path`.
fn restore_after(path: &Path, script: &str) -> (Lua, Result<RestoreOutcome, PreserveError>) {
    let lua = Lua::new();
    lua.load(script).exec().unwrap();
    let outcome = restore(&lua, path);
    (lua, outcome)
}

fn eval<T: FromLua>(lua: &Lua, src: &str) -> T {
    lua.load(src).eval().unwrap()
}

#[test]
fn numbers_round_trip_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    let values = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        42.0,
        0.1,
        1.0 / 3.0,
        -2.5e-7,
        2f64.powi(53),
        2f64.powi(53) + 2.0,
        2f64.powi(63),
        -2f64.powi(63),
        1e300,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let lua = Lua::new();
    let base = baseline(&lua).unwrap();
    let nums = lua.create_table().unwrap();
    for (i, v) in values.iter().enumerate() {
        nums.raw_set(i + 1, *v).unwrap();
    }
    nums.raw_set("nan", f64::NAN).unwrap();
    nums.raw_set(f64::INFINITY, "inf key").unwrap();
    nums.raw_set(0.5, "half key").unwrap();
    lua.globals().set("nums", nums).unwrap();
    lua.globals().set("count", 10).unwrap();
    save(&lua, &path, &base).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("_G[\"count\"] = 10\n"), "{text}");
    assert!(text.contains("_G[\"nums\"][5] = 42\n"), "{text}");

    let (lua, outcome) = restore_after(&path, "");
    assert_eq!(outcome.unwrap(), RestoreOutcome::Restored { globals: 2 });
    let nums: Table = lua.globals().get("nums").unwrap();
    for (i, v) in values.iter().enumerate() {
        let got: f64 = nums.raw_get(i + 1).unwrap();
        assert_eq!(got.to_bits(), v.to_bits(), "{v:e} came back as {got:e}");
    }
    assert!(nums.raw_get::<f64>("nan").unwrap().is_nan());
    assert_eq!(nums.raw_get::<String>(f64::INFINITY).unwrap(), "inf key");
    assert_eq!(nums.raw_get::<String>(0.5).unwrap(), "half key");
    assert_eq!(eval::<i64>(&lua, "return count"), 10);
}

#[test]
fn strings_keep_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    let all: Vec<u8> = (0..=255u8).collect();
    let tricky: &[&[u8]] = &[b"\x001", b"\n\r\"\\", b"]]", b"", b"\xff\xfe9"];
    let lua = Lua::new();
    let base = baseline(&lua).unwrap();
    let g = lua.globals();
    g.set("all", lua.create_string(&all).unwrap()).unwrap();
    let t = lua.create_table().unwrap();
    for s in tricky {
        let s = lua.create_string(s).unwrap();
        t.raw_set(s.clone(), s).unwrap();
    }
    g.set("t", t).unwrap();
    save(&lua, &path, &base).unwrap();

    let (lua, outcome) = restore_after(&path, "");
    outcome.unwrap();
    let got: LuaString = lua.globals().get("all").unwrap();
    assert_eq!(&got.as_bytes()[..], &all[..]);
    let t: Table = lua.globals().get("t").unwrap();
    for s in tricky {
        let got: LuaString = t.raw_get(lua.create_string(s).unwrap()).unwrap();
        assert_eq!(&got.as_bytes()[..], *s);
    }
}

#[test]
fn nested_tables_and_key_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    save_script(
        &path,
        r#"t = {a = {b = {c = "deep"}}, [1] = true, [2.5] = "x", [true] = false, [-3] = -3}"#,
    );
    let (lua, outcome) = restore_after(&path, "t = 'initial'");
    outcome.unwrap();
    assert!(eval::<bool>(
        &lua,
        r#"return t.a.b.c == "deep" and t[1] == true and t[2.5] == "x"
            and t[true] == false and t[-3] == -3"#
    ));
}

#[test]
fn shared_tables_stay_shared_and_cycles_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    let (stats, text) = save_script(
        &path,
        "t = {x = 1}; u = t; holder = {inner = t}
         c = {}; c.self = c; c.child = {parent = c}; c.child.me = c.child",
    );
    assert_eq!(stats.tables, 4, "{text}");
    assert!(text.contains("_G[\"u\"] = _G[\"t\"]\n"), "{text}");
    let (lua, outcome) = restore_after(&path, "");
    assert_eq!(outcome.unwrap(), RestoreOutcome::Restored { globals: 4 });
    assert!(eval::<bool>(
        &lua,
        "return rawequal(t, u) and rawequal(holder.inner, t) and u.x == 1
            and rawequal(c.self, c) and rawequal(c.child.parent, c)
            and rawequal(c.child.me, c.child)"
    ));
}

#[test]
fn unpreservable_values_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    let (stats, text) = save_script(
        &path,
        "f = function() end; co = coroutine.create(f); obj = setmetatable({}, {})
         g = _G; s = string; k = {[{}] = 1, [f] = 2, ok = 3}; kept = 1",
    );
    assert_eq!(stats.globals, 2, "{text}");
    assert_eq!(stats.skipped, 7, "{text}");
    let (lua, outcome) = restore_after(&path, "");
    outcome.unwrap();
    assert!(eval::<bool>(
        &lua,
        "return f == nil and co == nil and obj == nil and g == nil and s == nil
            and k.ok == 3 and next(k, next(k)) == nil and kept == 1"
    ));
}

#[test]
fn baseline_globals_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    let lua = Lua::new();
    let read_config = lua.create_function(|_, ()| Ok(())).unwrap();
    lua.globals().set("read_config", read_config).unwrap();
    lua.load("cjson = {null = 0}").exec().unwrap();
    let base = baseline(&lua).unwrap();
    lua.load("count = 1; _VERSION = 'mine'").exec().unwrap();
    let stats = save(&lua, &path, &base).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(stats.globals, 2, "{text}");
    for name in ["string", "math", "read_config", "cjson", "package", "_G"] {
        assert!(!text.contains(&format!("[\"{name}\"]")), "{name} in {text}");
    }
    assert!(text.contains("_G[\"_VERSION\"] = \"mine\"\n"), "{text}");
    assert_eq!(serialise(&lua, &base).unwrap().0, fs::read(&path).unwrap());
}

#[test]
fn preservation_version_rule() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    let (_, text) = save_script(&path, "_PRESERVATION_VERSION = 1; count = 5");
    assert!(
        text.starts_with(
            "if _PRESERVATION_VERSION and _PRESERVATION_VERSION ~= 1 then return end\n"
        )
    );

    let (lua, outcome) = restore_after(&path, "_PRESERVATION_VERSION = 2; count = 0");
    assert_eq!(
        outcome.unwrap(),
        RestoreOutcome::VersionChanged {
            saved: Some(1.0),
            current: 2.0
        }
    );
    assert_eq!(eval::<i64>(&lua, "return count"), 0);

    let (lua, outcome) = restore_after(&path, "_PRESERVATION_VERSION = 1; count = 0");
    assert_eq!(outcome.unwrap(), RestoreOutcome::Restored { globals: 2 });
    assert_eq!(eval::<i64>(&lua, "return count"), 5);

    // No saved version counts as 0; a script without one takes any state.
    save_script(&path, "count = 7");
    let (lua, outcome) = restore_after(&path, "_PRESERVATION_VERSION = 0");
    outcome.unwrap();
    assert_eq!(eval::<i64>(&lua, "return count"), 7);
    let (_, outcome) = restore_after(&path, "_PRESERVATION_VERSION = 3");
    assert!(matches!(
        outcome.unwrap(),
        RestoreOutcome::VersionChanged { saved: None, .. }
    ));
    save_script(&path, "_PRESERVATION_VERSION = 4; count = 8");
    let (lua, outcome) = restore_after(&path, "");
    outcome.unwrap();
    assert_eq!(
        eval::<i64>(&lua, "return count + _PRESERVATION_VERSION"),
        12
    );
}

#[test]
fn missing_file_is_a_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_, outcome) = restore_after(&state_file(&dir), "");
    assert_eq!(outcome.unwrap(), RestoreOutcome::NoFile);
}

fn assert_untouched(path: &Path, data: &[u8]) -> PreserveError {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
    let (lua, outcome) = restore_after(path, "count = 1");
    let err = outcome.unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(
        eval::<bool>(&lua, "return count == 1 and other == nil"),
        "{err}"
    );
    err
}

#[test]
fn corrupt_file_is_an_error_and_leaves_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    let err = assert_untouched(
        &path,
        b"_G[\"count\"] = 99\n_G[\"other\"] = 1\nundefined_function()\n",
    );
    assert!(matches!(err, PreserveError::Corrupt { .. }));
    assert!(err.to_string().contains("undefined_function"), "{err}");
    let err = assert_untouched(&path, b"_G[\"count\"] = = 99\n");
    assert!(matches!(err, PreserveError::Corrupt { .. }), "{err}");
}

#[test]
fn truncated_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    let (_, text) = save_script(&path, "count = 99; other = {1, 2, 3, 'four'}");
    let without_end = &text[..text.trim_end().rfind('\n').unwrap() + 1];
    let err = assert_untouched(&path, without_end.as_bytes());
    assert!(matches!(err, PreserveError::Truncated { .. }), "{err}");
    for cut in [text.len() / 2, text.len() - 3] {
        assert_untouched(&path, &text.as_bytes()[..cut]);
    }
}

#[test]
fn data_file_has_no_powers() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    let marker = dir.path().join("pwned");
    let attempts = [
        format!("os.execute('touch {}')", marker.display()),
        format!("require('io').open('{}', 'w')", marker.display()),
        "loadstring('x = 1')()".to_owned(),
        "getmetatable('').__index.rep('x', 3)".to_owned(),
    ];
    for attempt in &attempts {
        assert_untouched(&path, attempt.as_bytes());
    }
    assert!(!marker.exists());

    // Globals of the host are nil inside the file.
    let grab = format!("_G['x'] = os\n_G['y'] = string\n_G['z'] = 1\nreturn \"{END_MARKER}\"");
    fs::write(&path, grab).unwrap();
    let (lua, outcome) = restore_after(&path, "");
    assert_eq!(outcome.unwrap(), RestoreOutcome::Restored { globals: 1 });
    assert!(eval::<bool>(
        &lua,
        "return x == nil and y == nil and z == 1"
    ));

    // Bytecode is refused.
    let dumper = Lua::new();
    let dumped: LuaString = eval(&dumper, "return string.dump(function() end)");
    let err = assert_untouched(&path, &dumped.as_bytes());
    assert!(matches!(err, PreserveError::Corrupt { .. }), "{err}");
}

#[test]
fn restore_runs_under_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let data = format!("_G['big'] = ('x'):rep(64 * 1024 * 1024)\nreturn \"{END_MARKER}\"");
    fs::write(&path, data).unwrap();
    let lua = Lua::new();
    lua.set_memory_limit(lua.used_memory() + 1024 * 1024)
        .unwrap();
    let err = restore(&lua, &path).unwrap_err();
    assert!(matches!(err, PreserveError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("memory"), "{err}");
    assert!(eval::<bool>(&lua, "return big == nil"));
}

/// A userdata with the preserve hook, as circular_buffer would have.
struct Counter(u64);

impl UserData for Counter {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(PRESERVE_METAMETHOD, |_, this, ()| {
            Ok(("counter", "fromstring", format!("{}\0\n", this.0)))
        });
        methods.add_method("get", |_, this, ()| Ok(this.0));
    }
}

/// A userdata whose hook fails.
struct Broken;

impl UserData for Broken {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(PRESERVE_METAMETHOD, |_, _, ()| -> mlua::Result<()> {
            Err(mlua::Error::runtime("cannot serialise"))
        });
    }
}

/// A userdata without the hook.
struct Opaque;

impl UserData for Opaque {}

#[test]
fn userdata_with_a_hook_is_rebuilt_by_its_constructor() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    let lua = Lua::new();
    let base = baseline(&lua).unwrap();
    lua.globals().set("c", Counter(42)).unwrap();
    lua.globals().set("opaque", Opaque).unwrap();
    lua.load("c2 = c; holder = {c = c}").exec().unwrap();
    let stats = save(&lua, &path, &base).unwrap();
    assert_eq!(stats.skipped, 1);
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("_G[\"c\"] = require(\"counter\").fromstring(\"42\\000\\n\")\n"),
        "{text}"
    );

    let lua = Lua::new();
    let fromstring = lua
        .create_function(|_, s: String| {
            Ok(Counter(s.trim_end_matches(['\0', '\n']).parse().unwrap()))
        })
        .unwrap();
    let constructors = Constructors::default().with("counter", "fromstring", fromstring);
    restore_with(&lua, &path, &constructors).unwrap();
    assert!(eval::<bool>(
        &lua,
        "return c:get() == 42 and rawequal(c, c2) and rawequal(holder.c, c) and opaque == nil"
    ));

    // Without the constructor the file cannot be run.
    let (_, outcome) = restore_after(&path, "");
    assert!(matches!(outcome, Err(PreserveError::Corrupt { .. })));
}

#[test]
fn failed_save_removes_the_old_file_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    let lua = Lua::new();
    let base = baseline(&lua).unwrap();
    lua.load("count = 1").exec().unwrap();
    save(&lua, &path, &base).unwrap();
    let listing = || fs::read_dir(path.parent().unwrap()).unwrap().count();
    assert_eq!(listing(), 1);
    lua.globals().set("broken", Broken).unwrap();
    let err = save(&lua, &path, &base).unwrap_err();
    assert!(matches!(err, PreserveError::Serialise { .. }), "{err}");
    assert!(err.to_string().contains("cannot serialise"), "{err}");
    assert!(!path.exists());
    assert_eq!(listing(), 0);
}

#[test]
fn deep_and_wide_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file(&dir);
    let (_, text) = save_script(
        &path,
        "deep = {}; local t = deep; for i = 1, 2000 do t.n = {}; t = t.n end; t.bottom = true
         wide = {}; for i = 1, 300000 do wide[i] = i + 0.5 end",
    );
    assert!(text.contains("] = R[1]\n"));
    assert!(text.lines().all(|l| l.len() < 2 * ALIAS_AFTER));
    let (lua, outcome) = restore_after(&path, "");
    outcome.unwrap();
    assert!(eval::<bool>(
        &lua,
        "local t = deep; for i = 1, 2000 do t = t.n end
         return t.bottom and #wide == 300000 and wide[300000] == 300000.5"
    ));
}
