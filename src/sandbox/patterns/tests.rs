//! The Rust pattern functions against Lua 5.1's own C ones: thousands of
//! generated patterns and subjects must give the same results (errors only
//! need to be errors in both), plus hand-picked 5.1 quirks.

use mlua::{Function, Lua, LuaString};

/// Calls `f(...)` in a protected call and renders every result as text.
const HARNESS: &str = r#"
local function render(ok, ...)
    if not ok then return "error" end
    local out = {}
    for i = 1, select('#', ...) do
        local v = select(i, ...)
        out[#out + 1] = type(v) .. ":" .. tostring(v)
    end
    return table.concat(out, ",")
end
local function iterate(s, p)
    local out = {}
    for a, b in string.gmatch(s, p) do
        out[#out + 1] = tostring(a) .. "|" .. tostring(b)
        if #out > 40 then break end
    end
    return table.concat(out, ";")
end
local repl_table = { a = "<A>", b = false, ["1"] = 7 }
local function repl_fn(a, b) if a == "a" then return nil end return "{" .. tostring(a) .. tostring(b) .. "}" end
return function(kind, s, p, init)
    if kind == "find" then return render(pcall(string.find, s, p, init)) end
    if kind == "plain" then return render(pcall(string.find, s, p, init, true)) end
    if kind == "match" then return render(pcall(string.match, s, p, init)) end
    if kind == "gmatch" then return render(pcall(iterate, s, p)) end
    if kind == "gsub" then return render(pcall(string.gsub, s, p, "[%0|%1]")) end
    if kind == "gsubn" then return render(pcall(string.gsub, s, p, "x", init)) end
    if kind == "gsubt" then return render(pcall(string.gsub, s, p, repl_table)) end
    return render(pcall(string.gsub, s, p, repl_fn))
end
"#;

fn harness(lua: &Lua) -> Function {
    lua.load(HARNESS).eval().unwrap()
}

/// Lua's C functions and ours, each behind the harness (the states are
/// returned too: functions do not keep their state alive).
fn pair() -> (Lua, Lua, Function, Function) {
    let c = Lua::new();
    let ours = Lua::new();
    super::install(&ours).unwrap();
    let (hc, ho) = (harness(&c), harness(&ours));
    (c, ours, hc, ho)
}

const TOKENS: &[&str] = &[
    "a", "b", "x", ".", "%a", "%d", "%s", "%w", "%p", "%u", "%A", "%S", "[ab]", "[^a]", "[a-c]",
    "[%d-]", "[]]", "[^]a]", "(", ")", "()", "*", "+", "-", "?", "^", "$", "%b()", "%f[%w]",
    "%f[%W]", "%1", "%2", "%", "[", "%%", "%.", "(a*)", "(.-)", "%z",
];
const SUBJECT: &[u8] = b"aab1 (x)-%]Zb\0.";

#[test]
fn generated_patterns_behave_as_lua_5_1() {
    let (_c_state, _our_state, c, ours) = pair();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let kinds = [
        "find", "plain", "match", "gmatch", "gsub", "gsubn", "gsubt", "gsubf",
    ];
    for case in 0..8000 {
        let pattern: String = (0..rng.usize(1..6))
            .map(|_| TOKENS[rng.usize(..TOKENS.len())])
            .collect();
        let subject: Vec<u8> = (0..rng.usize(0..14))
            .map(|_| SUBJECT[rng.usize(..SUBJECT.len())])
            .collect();
        let init = rng.i64(-4..16);
        let kind = kinds[case % kinds.len()];
        let want: String = c
            .call((kind, LuaString::wrap(&subject), pattern.as_str(), init))
            .unwrap();
        let got: String = ours
            .call((kind, LuaString::wrap(&subject), pattern.as_str(), init))
            .unwrap();
        assert_eq!(
            got,
            want,
            "{kind}({:?}, {pattern:?}, {init})",
            String::from_utf8_lossy(&subject)
        );
    }
}

#[test]
fn lua_5_1_quirks_are_kept() {
    let (_c_state, _our_state, c, ours) = pair();
    let cases: &[(&str, &[u8], &str, i64)] = &[
        ("find", b"abc", "", 10),
        ("find", b"abc", "b", -1),
        ("find", b"a.c", ".", 1),
        ("plain", b"a.c", ".", 1),
        ("find", b"a\0b", "\0b", 1),
        ("match", b"key = value", "(%w+)%s*=%s*(%w+)", 1),
        ("match", b"hello", "()ll()", 1),
        ("gmatch", b"^a^a", "^a", 1),
        ("gmatch", b"abc", "a*", 1),
        ("gsub", b"hello world", "o", 1),
        ("gsubn", b"aaaa", "a", 2),
        ("gsub", b"abc", "%w", 1),
        ("gsubf", b"a b c", "%w", 1),
        ("gsubt", b"a b 1", "%w", 1),
        ("match", b"THE (quick) fox", "%f[%a]%a+", 1),
        ("match", b"x = f(a(b)c) + 1", "%b()", 1),
        ("gsub", b"abc", "^a", 1),
        ("find", b"aaa", "a-$", 1),
    ];
    for (kind, s, p, init) in cases {
        let want: String = c.call((*kind, LuaString::wrap(s), *p, *init)).unwrap();
        let got: String = ours.call((*kind, LuaString::wrap(s), *p, *init)).unwrap();
        assert_eq!(got, want, "{kind}({:?}, {p:?})", String::from_utf8_lossy(s));
    }
    // A trailing `%` in a replacement adds a NUL byte, as 5.1 did.
    let lua = Lua::new();
    super::install(&lua).unwrap();
    let out: LuaString = lua
        .load("return (string.gsub('ab', 'b', 'x%'))")
        .eval()
        .unwrap();
    assert_eq!(&out.as_bytes()[..], b"ax\0");
    // Method calls reach the replaced functions through the metatable.
    let n: i64 = lua.load("return (('hello'):find('l+'))").eval().unwrap();
    assert_eq!(n, 3);
}

#[test]
fn deep_patterns_fail_instead_of_overflowing_the_stack() {
    let lua = Lua::new();
    super::install(&lua).unwrap();
    let err = lua
        .load("return string.find(string.rep('a', 300), string.rep('a?', 300) .. 'b')")
        .exec()
        .unwrap_err();
    assert!(err.to_string().contains("pattern too complex"), "{err}");
}
