//! Hostile arguments to every function the sandbox gives a script: each API
//! function, cjson function and circular_buffer method is called with
//! generated wrong-typed, missing, huge, negative, infinite and NaN
//! arguments. The call may return (some functions read nil or ignore what
//! they do not need) or fail with an error the script sees, but the host
//! never panics, and a correct use of the whole API right after it still
//! works and gives the right results.

use proptest::prelude::*;

use super::*;

/// Functions under test, as Lua expressions, each with arguments a
/// correct call could pass (method calls start with their object).
const FUNCTIONS: &[(&str, &[&str])] = &[
    ("read_message", &["\"Fields[i]\"", "0", "1"]),
    ("read_next_field", &[]),
    ("read_config", &["\"missing\""]),
    ("inject_message", &["{Payload = \"p\"}"]),
    ("inject_payload", &["\"txt\"", "\"name\"", "\"extra\""]),
    ("add_to_payload", &["\"a\"", "1"]),
    (
        "write_message",
        &["\"Fields[new]\"", "1", "\"rep\"", "0", "0"],
    ),
    ("write_message", &["\"Timestamp\"", "\"0\""]),
    ("write_message", &["\"Pid\"", "\"0x10\""]),
    ("write_message", &["\"Uuid\"", "read_message(\"Uuid\")"]),
    ("decode_message", &["read_message(\"raw\")"]),
    ("cjson.encode", &["{1}"]),
    ("cjson.decode", &["\"[1]\""]),
    ("cjson.decode_null", &["false"]),
    ("cjson.encode_empty_table_as_object", &["true"]),
    ("circular_buffer.new", &["2", "1", "60", "false"]),
    ("circular_buffer.restore", &["\"2 1 60 0 cbuf\\n[]\\n\""]),
    ("cb.add", &["cb", "1e9", "1", "1"]),
    ("cb.set", &["cb", "1e9", "2", "1"]),
    ("cb.get", &["cb", "1e9", "1"]),
    ("cb.compute", &["cb", "\"sum\"", "1", "0", "1e11"]),
    ("cb.get_range", &["cb", "1", "0", "1e11"]),
    (
        "cb.set_header",
        &["cb", "1", "\"name\"", "\"unit\"", "\"sum\""],
    ),
    ("cb.get_header", &["cb", "1"]),
    ("cb.format", &["cb", "\"cbuf\""]),
    ("cb.fromstring", &["cb", "\"1 2 3\""]),
    ("cb.current_time", &["cb"]),
    ("cb.get_configuration", &["cb"]),
    ("cb7.add", &["cb7", "1e9", "1", "1"]),
    ("cb7.get_range", &["cb7", "1", "0", "1e11"]),
    ("cb7.compute", &["cb7", "\"avg\"", "1", "-1e11", "1e11"]),
    (
        "string.find",
        &["\"key=value\"", "\"(%w+)=\"", "1", "false"],
    ),
    ("string.match", &["\"key=value\"", "\"(%w+)=\"", "1"]),
    ("string.gmatch", &["\"key=value\"", "\"%w+\""]),
    ("string.gsub", &["\"key=value\"", "\"%w\"", "\"%0%0\"", "2"]),
];

/// Argument values, as Lua expressions.
const ARGUMENTS: &[&str] = &[
    "nil",
    "true",
    "0",
    "1",
    "2",
    "-1",
    "1.5",
    "0/0",
    "1/0",
    "-1/0",
    "2^31",
    "-2^31 - 1",
    "2^53",
    "2^63",
    "-2^63",
    "1e308",
    "-1e308",
    "1e12",
    "\"\"",
    "\"Payload\"",
    "\"Timestamp\"",
    "\"Severity\"",
    "\"Uuid\"",
    "\"raw\"",
    "\"Fields[s]\"",
    "\"Fields[i]\"",
    "\"Fields[\"",
    "\"Fields[]\"",
    "\"Fields[new]\"",
    "\"sum\"",
    "\"cbufd\"",
    "\"%\"",
    "\"(\"",
    "\"[a-\"",
    "\"%b\"",
    "\"%f\"",
    "\"%1\"",
    "\"-9223372036854775808\"",
    "\"--9223372036854775808\"",
    "\"-0x-8000000000000000\"",
    "\"0x7fffffffffffffff\"",
    "\"9999-12-31T23:59:60.999999999+23:59\"",
    "\"0000-01-01T00:00:00-99:99\"",
    "\"11111111-1111-1111-1111-1111111111111\"",
    "\"[1,{\\\"a\\\":null}]\"",
    "\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"",
    "\"2 2 60 1 cbufd\\n[]\\n\"",
    "\"1e9 1e9 1 0 cbuf\\n[]\\n\"",
    "\"\\n\\n\\n\"",
    "\"\\0\\255\\128\"",
    "string.rep(\"x\", 70000)",
    "string.rep(\"%a\", 2000)",
    "{}",
    "{1, 2, 3}",
    "{[1] = 1, [1000] = 2}",
    "{Payload = \"p\", Fields = {a = {1, \"x\"}}}",
    "{Payload = {}, Timestamp = 0/0, Severity = 1/0, Fields = {{name = \"n\", value = {}}}}",
    "{Fields = {n = {value = {true, 1}, value_type = 2}}}",
    "{Fields = {{value = 1}}}",
    "deep",
    "cyclic",
    "function() end",
    "cb",
    "cjson.null",
    "trap",
];

/// The script: globals the arguments refer to, the hostile `calls` run
/// by `timer_event(i)` (the i-th), and a correct use of everything in
/// `process_message`.
fn script(calls: &[String]) -> String {
    let calls: String = calls
        .iter()
        .map(|c| format!("    function() {c} end,\n"))
        .collect();
    format!(
        r#"
circular_buffer = require "circular_buffer"
cjson = require "cjson"
cb = circular_buffer.new(4, 2, 60, true)
cb7 = circular_buffer.new(3, 1, 7)
deep = {{}}
for _ = 1, 300 do deep = {{deep}} end
cyclic = {{}}
cyclic.self = cyclic
trap = setmetatable({{}}, {{__index = function() error("trap") end,
    __tostring = function() error("trap") end, __len = function() error("trap") end}})

local HOSTILE = {{
{calls}}}

function timer_event(ns)
    HOSTILE[ns]()
end

function process_message()
    -- What a hostile call left in the output buffer goes first.
    inject_payload("txt", "leftover")
    local out = {{}}
    out[#out + 1] = read_message("Payload")
    out[#out + 1] = read_message("Fields[i]", 0, 1)
    out[#out + 1] = tostring(read_config("missing"))
    write_message("Payload", "edited")
    out[#out + 1] = read_message("Payload")
    local m = decode_message(read_message("raw"))
    out[#out + 1] = m.Logger
    local t = cjson.decode(cjson.encode({{a = {{1, 2}}}}))
    out[#out + 1] = t.a[2]
    local c = circular_buffer.new(2, 1, 1)
    c:add(1e9, 1, 3)
    out[#out + 1] = c:get(1e9, 1)
    out[#out + 1] = c:compute("sum", 1)
    out[#out + 1] = string.match("key=value", "(%w+)=(%w+)")
    add_to_payload(table.concat(out, " "))
    inject_payload("txt", "check")
    return 0
end
"#
    )
}

/// What the correct use must produce, whatever came before.
const CORRECT: &str = "hello 6 nil edited mylogger 2 3 3 key";

fn call_with(
    sb: &mut Sandbox,
    hostile: Option<usize>,
) -> (Result<(), SandboxError>, Vec<Injection>) {
    let msg = message();
    let mut edit = Edit::default();
    let mut rec = Record::default();
    let call = Call {
        message: Some(&msg),
        sink: Some(&mut rec),
        edit: Some(&mut edit),
    };
    let r = match hostile {
        Some(i) => sb.timer_event(i as i64, call),
        None => sb.process_message(call).map(drop),
    };
    (r, rec.0)
}

/// Runs each of `calls` in one sandbox (a panic fails the test), each
/// followed by the correct use.
fn survives(calls: &[String]) -> Result<(), TestCaseError> {
    let mut s = spec(&script(calls), Template::Analysis);
    s.limits.output = 64 * 1024;
    let mut sb = Sandbox::new(s).map_err(|e| TestCaseError::fail(format!("{calls:?}: {e}")))?;
    for (i, call) in calls.iter().enumerate() {
        let (r, _) = call_with(&mut sb, Some(i + 1));
        if let Err(e) = &r {
            // An error the script and the log can show.
            prop_assert!(!e.to_string().is_empty(), "{call}: empty error");
        }
        let (after, inj) = call_with(&mut sb, None);
        prop_assert_eq!(after, Ok(()), "after {}", call);
        let last = inj.last().map(payload);
        prop_assert_eq!(last.as_deref(), Some(CORRECT), "after {}", call);
    }
    Ok(())
}

/// `f(args)`, or `obj:m(rest)` when the first argument is the object of a
/// method.
fn render(f: &str, args: &[&str]) -> String {
    match (f.split_once('.'), args.first()) {
        (Some((obj, m)), Some(first)) if *first == obj => {
            format!("{obj}:{m}({})", args[1..].join(", "))
        }
        _ => format!("{f}({})", args.join(", ")),
    }
}

fn argument() -> impl Strategy<Value = &'static str> {
    prop::sample::select(ARGUMENTS)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn hostile_argument_lists_never_panic_the_host(
        f in prop::sample::select(FUNCTIONS),
        lists in prop::collection::vec(
            prop::collection::vec((any::<bool>(), argument()), 0..6), 1..10),
    ) {
        // Each position keeps the correct argument or takes a hostile one.
        let (name, good) = f;
        let calls: Vec<String> = lists
            .iter()
            .map(|list| {
                let args: Vec<&str> = list
                    .iter()
                    .enumerate()
                    .map(|(i, (keep, bad))| match good.get(i) {
                        Some(g) if *keep => *g,
                        _ => *bad,
                    })
                    .collect();
                render(name, &args)
            })
            .collect();
        survives(&calls)?;
    }
}

#[test]
fn every_argument_in_every_position() {
    // The property samples; this walks the whole table: each function
    // with its correct arguments, one position at a time replaced by each
    // hostile argument (and one past the end), so no pair is left to chance.
    for (name, good) in FUNCTIONS {
        let mut calls = vec![render(name, good)];
        for pos in 0..=good.len() {
            for bad in ARGUMENTS {
                let mut args = good.to_vec();
                if pos == args.len() {
                    args.push(bad);
                } else {
                    args[pos] = bad;
                }
                calls.push(render(name, &args));
            }
        }
        survives(&calls).unwrap();
    }
}
