//! `require "lpeg"`/`"re"` in sandboxes, with and without the feature.

use std::time::Duration;

use crate::sandbox::{Limits, Sandbox, SandboxError, SandboxSpec, Template};

fn spec(src: &str) -> SandboxSpec {
    SandboxSpec {
        chunk_name: "lpeg_test.lua".into(),
        source: src.as_bytes().to_vec(),
        template: Template::Analysis,
        limits: Limits {
            memory: 8 * 1024 * 1024,
            instructions: 1_000_000,
            output: 64 * 1024,
            call_time: Some(Duration::from_secs(5)),
        },
        module_dirs: Vec::new(),
        config: Default::default(),
    }
}

#[cfg(not(feature = "lpeg"))]
#[test]
fn without_the_feature_require_says_why() {
    for name in ["lpeg", "re"] {
        let err = Sandbox::new(spec(&format!("require '{name}'"))).unwrap_err();
        let want = format!("module '{name}' not found: hekad was built without the lpeg feature");
        assert!(
            matches!(&err, SandboxError::Lua(m) if m.contains(&want)),
            "{err:?}"
        );
    }
    // A pure-Lua module of that name in module_directory still loads.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lpeg.lua"), "return { pure = true }").unwrap();
    let mut s = spec("assert(require('lpeg').pure)");
    s.module_dirs = vec![dir.path().to_path_buf()];
    Sandbox::new(s).unwrap();
}

#[cfg(feature = "lpeg")]
mod linked {
    use std::time::Instant;

    use mlua::Lua;

    use super::*;
    use crate::sandbox::Abort;
    use crate::sandbox::Call;
    use crate::sandbox::modules::lpeg::{MAX_NESTING, open};

    type Outcome = Result<(i64, Option<String>), SandboxError>;

    fn call(sb: &mut Sandbox) -> Outcome {
        sb.process_message(Call::default())
    }

    #[test]
    fn a_grammar_parses_key_value_lines() {
        let mut sb = Sandbox::new(spec(
            r#"
            local l = require "lpeg"
            assert(l == lpeg and require "lpeg" == l)
            local sp = l.S" \t"^0
            local key = l.C((l.R("az", "AZ", "09") + "_")^1)
            local value = l.C((1 - l.S" \t")^0)
            local pair = l.Cg(key * "=" * value) * sp
            kv = sp * l.Cf(l.Ct"" * pair^0, rawset) * -1
            local g = l.P{ "list", list = l.V"item" * ("," * l.V"item")^0,
                           item = l.C(l.R"09"^1) / tonumber }
            assert(select('#', g:match("1,22,333")) == 3)
            function process_message()
                local t = kv:match(" a=1 b=two  _c= ")
                if not (t and t.a == "1" and t.b == "two" and t._c == "") then
                    return -1, "bad parse"
                end
                if kv:match("a=1 =x") ~= nil then return -1, "accepted junk" end
                return 0
            end"#,
        ))
        .unwrap();
        assert_eq!(call(&mut sb), Ok((0, None)));
        assert_eq!(call(&mut sb), Ok((0, None)));
    }

    #[test]
    fn re_matches_compiles_finds_and_substitutes() {
        let mut sb = Sandbox::new(spec(
            r#"
            local re = require "re"
            assert(re == _G.re and lpeg == require "lpeg")
            function process_message()
                local a, b = re.match("hello world", "{%a+} ' ' {%a+}")
                assert(a == "hello" and b == "world", "match")
                local p = re.compile([[
                    line <- {| pair (%s+ pair)* |} !.
                    pair <- {| {:key: [a-z]+ :} '=' {:value: [0-9]+ :} |}
                ]])
                local t = p:match("x=1 y=22")
                assert(t and #t == 2 and t[2].key == "y" and t[2].value == "22", "compile")
                assert(lpeg.type(p) == "pattern")
                assert(re.find("abc123", "[0-9]+") == 4, "find")
                assert(re.gsub("a-b-c", "'-'", "+") == "a+b+c", "gsub")
                local ok, err = pcall(re.compile, "x <- (")
                assert(not ok and type(err) == "string", tostring(err))
                return 0
            end"#,
        ))
        .unwrap();
        assert_eq!(call(&mut sb), Ok((0, None)));
    }

    #[test]
    fn opening_twice_gives_the_same_guarded_module() {
        let lua = Lua::new();
        let a = open(&lua).unwrap();
        let b = open(&lua).unwrap();
        assert_eq!(a.to_pointer(), b.to_pointer());
        // The guard survived the second open: deep nesting is still refused.
        let err = lua
            .load("local p = lpeg.P'x' for i = 1, 5000 do p = lpeg.C(p) end")
            .exec()
            .unwrap_err();
        assert!(err.to_string().contains("exceeds hekad's limit"), "{err}");
    }

    /// LPeg allocates through the state's allocator: pattern trees,
    /// compiled code (on the first match), all counted.
    #[test]
    fn memory_is_counted_and_the_limit_holds() {
        let lua = Lua::new();
        open(&lua).unwrap();
        let p: mlua::AnyUserData = lua
            .load("return lpeg.P(string.rep('xy', 20000)) * lpeg.C(lpeg.S'ab'^1)")
            .eval()
            .unwrap();
        lua.gc_collect().unwrap();
        let before = lua.used_memory();
        let subject = format!("{}aab", "xy".repeat(20000));
        let m: mlua::Function = lua.load("return lpeg.match").eval().unwrap();
        assert_eq!(m.call::<String>((&p, subject.as_str())).unwrap(), "aab");
        // 40,000 instructions of 4 bytes.
        assert!(
            lua.used_memory() - before > 100_000,
            "compiled code uncounted"
        );

        // A compilation cut short by the limit fails cleanly, and the
        // half-compiled pattern is never run (LPeg would: an assertion
        // failure, i.e. abort, in Debian's build).
        let l = lua.clone();
        let headroom = lua
            .create_function(move |_, n: Option<usize>| {
                l.set_memory_limit(n.map_or(0, |n| l.used_memory() + n))
                    .map(|_| ())
            })
            .unwrap();
        lua.globals().set("headroom", headroom).unwrap();
        lua.load(
            r#"
            local s = ...
            local q = lpeg.P(string.rep('xy', 20000)) * lpeg.C(lpeg.S'ab'^1)
            collectgarbage() collectgarbage()
            headroom(4096)
            local ok, err = pcall(lpeg.match, q, s)
            headroom(nil)
            assert(not ok and err:find("not enough memory"), tostring(err))
            ok, err = pcall(q.match, q, s)
            assert(not ok and err:find("build it again"), tostring(err))
            assert(lpeg.Cg(q):match(s) == "aab")
            "#,
        )
        .call::<()>(subject.as_str())
        .unwrap();

        // In a sandbox: a pattern too big for memory_limit ends the call as
        // a memory error, and the sandbox works on.
        let mut s = spec(
            r#"
            require "lpeg"
            n = 0
            function process_message()
                n = n + 1
                if n == 1 then lpeg.P(string.rep("x", 300000)) end
                return lpeg.match(lpeg.C(lpeg.P"ok"), "ok") == "ok" and 0 or -1
            end"#,
        );
        s.limits.memory = 1024 * 1024;
        let mut sb = Sandbox::new(s).unwrap();
        assert_eq!(call(&mut sb), Err(SandboxError::Memory));
        assert_eq!(call(&mut sb), Ok((0, None)));
    }

    /// Builds each kind of nesting as deep as the guard allows and matches
    /// it on a 2 MiB stack (the default for Rust threads), where about
    /// 10,800 levels would abort the process; one level more is refused.
    #[test]
    fn nesting_is_capped_below_what_overflows_the_c_stack() {
        let run = || {
            let lua = Lua::new();
            open(&lua).unwrap();
            lua.load(
                r#"
                local max = ...
                local function deepest(grow)
                    local p, n = lpeg.P"xa", 0
                    while true do
                        local ok, q = pcall(grow, p)
                        if not ok then
                            assert(tostring(q):find("exceeds hekad's limit"), tostring(q))
                            return p, n
                        end
                        p, n = q, n + 1
                    end
                end
                local f = function() return true end
                for _, grow in ipairs{
                    function(p) return lpeg.C(p) end,
                    function(p) return -p end,
                    function(p) return #p end,
                    function(p) return p + "yz" end,
                    function(p) return "yz" + p end,
                    function(p) return p - "yz" end,
                    function(p) return p / 1 end,
                    function(p) return p^-1 end,
                    function(p) return lpeg.Cmt(p, f) end,
                    function(p) return lpeg.P{p} end,
                } do
                    local p, n = deepest(grow)
                    assert(n > 100, n)
                    pcall(p.match, p, "yz")
                end
                -- A grammar counts its rules' nesting summed: 20 rules each
                -- nesting the call of the next as deep as the total allows.
                local rules, per = 20, math.floor((max - 100) / 20)
                local g = { "r1", ["r" .. (rules + 1)] = lpeg.P"z" }
                for i = 1, rules do
                    local b = lpeg.V("r" .. (i + 1))
                    for k = 1, per do b = -b end
                    g["r" .. i] = b * "x"
                end
                local p = lpeg.P(g)
                pcall(p.match, p, "zx")
                pcall(lpeg.match, #p, "z")
                pcall(lpeg.match, lpeg.C(p), "z")
                -- Long sequences and alternations stay well within reach.
                local seq, alt = lpeg.P"", lpeg.P(false)
                for i = 1, 20000 do seq = seq * "a" end
                for i = 1, max - 10 do alt = alt + ("k" .. i .. ";") end
                assert(seq:match(string.rep("a", 20000)) == 20001)
                assert(alt:match("k1500;") == 7)
            "#,
            )
            .call::<()>(MAX_NESTING)
        };
        let thread = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(run)
            .unwrap();
        thread.join().unwrap().unwrap();
    }

    /// `S <- 'a' S 'x' / 'a' S 'y' / ''` takes time exponential in the
    /// number of `a`s (about 0.25 s for 22), all inside one C call that the
    /// hook cannot interrupt.
    const SLOW: &str = r#"
        local l = require "lpeg"
        slow = l.P{ "S", S = "a" * l.V"S" * "x" + "a" * l.V"S" * "y" + l.P"" }
    "#;

    fn slow_call(body: &str, instructions: u64, call_time: u64) -> (Outcome, Duration) {
        let mut s = spec(&format!(
            "{SLOW} function process_message() {body} return 0 end"
        ));
        s.limits.instructions = instructions;
        s.limits.call_time = Some(Duration::from_millis(call_time));
        let mut sb = Sandbox::new(s).unwrap();
        let started = Instant::now();
        let r = call(&mut sb);
        (r, started.elapsed())
    }

    fn time_limit(r: &Outcome) -> bool {
        matches!(r, Err(SandboxError::Abort(Abort::Time(_))))
    }

    /// What the wall-clock budget does with a match that outlasts it: the
    /// match runs to its end; the call is stopped at the hook's next check
    /// (every `HOOK_STEP` instructions) after it returns. A call that
    /// returns before that check completes, late.
    #[test]
    fn a_pathological_match_runs_to_its_end_then_the_call_is_stopped() {
        let slow = "slow:match(string.rep('a', 22))";
        let (r, took) = slow_call(slow, 1_000_000, 20);
        assert_eq!(r, Ok((0, None)));
        assert!(took > Duration::from_millis(20), "{took:?}");

        let (r, _) = slow_call(&format!("{slow} for i = 1, 3000 do end"), 1_000_000, 20);
        assert!(time_limit(&r), "{r:?}");

        // Repeated slow matches, no instruction limit: stopped at the first
        // check past the deadline, not after the loop.
        let body = "for i = 1, 1e9 do slow:match(string.rep('a', 14)) end";
        let (r, took) = slow_call(body, 0, 100);
        assert!(time_limit(&r), "{r:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
    }

    #[test]
    fn lua_called_from_a_match_stays_under_the_instruction_limit() {
        let mut sb = Sandbox::new(spec(
            r#"
            local l = require "lpeg"
            local spin = l.Cmt(l.P"x", function() while true do end end)
            n = 0
            function process_message()
                n = n + 1
                if n == 1 then pcall(l.match, spin, "x") end
                return l.match(l.C"ok", "ok") == "ok" and 0 or -1
            end"#,
        ))
        .unwrap();
        let r = call(&mut sb);
        assert!(
            matches!(r, Err(SandboxError::Abort(Abort::Instructions))),
            "{r:?}"
        );
        assert_eq!(call(&mut sb), Ok((0, None)));
    }
}
