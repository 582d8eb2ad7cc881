//! Tests of the sandbox VM: the API against a recording sink, the
//! environments, preserve_data; the limits are in [`isolation`].

use std::time::Duration;

use bytes::Bytes;
use heka_proto::{Field, FieldValue, Message, MessageView};

use super::*;

mod arguments;
mod isolation;

#[derive(Default)]
struct Record(Vec<Injection>);

impl Sink for Record {
    fn inject(&mut self, what: Injection) -> Result<(), String> {
        if self.0.len() >= 3 {
            return Err("exceeded InjectMessage count".into());
        }
        self.0.push(what);
        Ok(())
    }
}

fn spec(src: &str, template: Template) -> SandboxSpec {
    SandboxSpec {
        chunk_name: "test.lua".into(),
        source: src.as_bytes().to_vec(),
        template,
        limits: Limits {
            memory: 1024 * 1024,
            instructions: 100_000,
            output: 1024,
            call_time: Some(Duration::from_secs(2)),
        },
        module_dirs: Vec::new(),
        config: Default::default(),
    }
}

fn sandbox(src: &str) -> Sandbox {
    Sandbox::new(spec(src, Template::Analysis)).unwrap()
}

fn message() -> MessageView {
    let mut m = Message::new([0x11; 16], 1_500_000_000_000_000_000);
    m.r#type = Some(Bytes::from_static(b"mytype"));
    m.logger = Some(Bytes::from_static(b"mylogger"));
    m.payload = Some(Bytes::from_static(b"hello"));
    m.env_version = Some(Bytes::from_static(b"0.8"));
    m.hostname = Some(Bytes::from_static(b"host1"));
    m.severity = Some(3);
    m.pid = Some(99);
    m.fields = vec![
        Field::string("s", "text"),
        Field::bytes("b", b"\x00\x01"),
        Field::bytes("empty", b""),
        Field::integers("i", [5, 6]),
        Field::double("d", 2.5),
        Field::boolean("t", true),
        Field::string("s", "second"),
    ];
    MessageView::from_message(&m).unwrap()
}

type Outcome = Result<(i64, Option<String>), SandboxError>;

/// Runs process_message with `msg` and a recording sink.
fn run(sb: &mut Sandbox, msg: &MessageView) -> (Outcome, Vec<Injection>) {
    let mut rec = Record::default();
    let r = sb.process_message(Call {
        message: Some(msg),
        sink: Some(&mut rec),
        ..Call::default()
    });
    (r, rec.0)
}

fn ok(sb: &mut Sandbox) -> Vec<Injection> {
    let (r, inj) = run(sb, &message());
    assert_eq!(r, Ok((0, None)));
    inj
}

fn payload(inj: &Injection) -> String {
    match inj {
        Injection::Payload { payload, .. } => String::from_utf8(payload.to_vec()).unwrap(),
        Injection::Message { msg, .. } => {
            String::from_utf8(msg.payload.clone().unwrap().to_vec()).unwrap()
        }
    }
}

#[test]
fn read_message_headers_and_fields() {
    let mut sb = sandbox(
        r#"
        local read_message = read_message
        function process_message()
            local out = {}
            for _, k in ipairs{"Type","Logger","Payload","EnvVersion","Hostname","Uuid"} do
                out[#out+1] = read_message(k)
            end
            out[#out+1] = string.format("%d", read_message("Timestamp"))
            out[#out+1] = read_message("Severity")
            out[#out+1] = read_message("Pid")
            out[#out+1] = read_message("Fields[s]")
            out[#out+1] = read_message("Fields[s]", 1)
            out[#out+1] = #read_message("Fields[b]")
            out[#out+1] = tostring(read_message("Fields[empty]"))
            out[#out+1] = read_message("Fields[i]", 0, 1)
            out[#out+1] = read_message("Fields[d]")
            out[#out+1] = tostring(read_message("Fields[t]"))
            out[#out+1] = tostring(read_message("Fields[nope]"))
            out[#out+1] = tostring(read_message("Fields[i]", 0, 2))
            out[#out+1] = tostring(read_message("Bogus"))
            out[#out+1] = #read_message("raw")
            add_to_payload(table.concat(out, "|"))
            inject_payload()
            return 0
        end"#,
    );
    let msg = message();
    let (r, inj) = run(&mut sb, &msg);
    assert_eq!(r, Ok((0, None)));
    assert_eq!(
        payload(&inj[0]),
        format!(
            "mytype|mylogger|hello|0.8|host1|11111111-1111-1111-1111-111111111111|\
             1500000000000000000|3|99|text|second|2|nil|6|2.5|true|nil|nil|nil|{}",
            msg.raw().len()
        )
    );
    // Unset Severity and Pid read as nil, not the protobuf defaults.
    let bare = MessageView::from_message(&heka_proto::Message::new([1; 16], 5)).unwrap();
    let mut sb = sandbox(
        "function process_message() \
         add_to_payload(tostring(read_message('Severity')), tostring(read_message('Pid'))) \
         inject_payload() return 0 end",
    );
    let (r, inj) = run(&mut sb, &bare);
    assert_eq!(r, Ok((0, None)));
    assert_eq!(payload(&inj[0]), "nilnil");
    // Bad arguments are Lua errors.
    let mut sb = sandbox("function process_message() read_message('Type', -1) return 0 end");
    let (r, _) = run(&mut sb, &msg);
    assert!(
        matches!(r, Err(SandboxError::Lua(ref t)) if t.contains(">= 0")),
        "{r:?}"
    );
}

#[test]
fn inject_message_table_form() {
    let mut sb = sandbox(
        r#"
        function process_message()
            inject_message{Type = "t", Payload = "p", Severity = 2, Pid = 7, Timestamp = 1e9,
                Hostname = "h", Logger = "l", EnvVersion = "1",
                Fields = {
                    n = 1, s = "x", b = true, arr = {1, 2},
                    i = {value = 3, value_type = 2, representation = "count"},
                    raw = {value = "\0\1", value_type = 1},
                }}
            inject_message{Fields = { {name = "a", value = {1, 2}, value_type = 2}, {name = "a", value = "z"} }}
            return 0
        end"#,
    );
    let inj = ok(&mut sb);
    let Injection::Message { msg, timestamp_set } = &inj[0] else {
        panic!()
    };
    assert!(*timestamp_set);
    assert_eq!(msg.timestamp, 1_000_000_000);
    assert_eq!(msg.r#type.as_deref(), Some(&b"t"[..]));
    assert_eq!(msg.logger.as_deref(), Some(&b"l"[..]));
    assert_eq!(msg.hostname.as_deref(), Some(&b"h"[..]));
    assert_eq!(msg.env_version.as_deref(), Some(&b"1"[..]));
    assert_eq!((msg.severity, msg.pid), (Some(2), Some(7)));
    assert_eq!(msg.uuid.len(), 16);
    let v = |n: &str, i| msg.field_value(n.as_bytes(), 0, i);
    assert_eq!(v("n", 0), Some(FieldValue::Double(1.0)));
    assert_eq!(v("s", 0), Some(FieldValue::String(b"x")));
    assert_eq!(v("b", 0), Some(FieldValue::Bool(true)));
    assert_eq!(v("arr", 1), Some(FieldValue::Double(2.0)));
    assert_eq!(v("i", 0), Some(FieldValue::Integer(3)));
    assert_eq!(
        msg.field(b"i", 0).unwrap().representation.as_deref(),
        Some(&b"count"[..])
    );
    assert_eq!(v("raw", 0), Some(FieldValue::Bytes(b"\0\x01")));
    let Injection::Message { msg, timestamp_set } = &inj[1] else {
        panic!()
    };
    assert!(!timestamp_set);
    assert_eq!(msg.timestamp % 1_000_000_000, 0, "second precision");
    assert_eq!(msg.field_value(b"a", 0, 1), Some(FieldValue::Integer(2)));
    assert_eq!(msg.field_value(b"a", 1, 0), Some(FieldValue::String(b"z")));
}

#[test]
fn payloads_and_config() {
    let mut s = spec(
        r#"
        function process_message()
            add_to_payload("a", 1, 2.5, true, nil, " ", read_config("name"), read_config("n"),
                tostring(read_config("missing")))
            inject_payload("json", "stats", "!")
            inject_payload("txt", "empty")
            add_to_payload("x")
            inject_payload()
            return 0
        end"#,
        Template::Analysis,
    );
    s.config
        .insert("name".into(), config::ConfigValue::Str("cfg".into()));
    s.config.insert("n".into(), config::ConfigValue::Num(3.0));
    let mut sb = Sandbox::new(s).unwrap();
    let inj = ok(&mut sb);
    assert_eq!(inj.len(), 2, "an empty buffer injects nothing");
    assert_eq!(
        inj[0],
        Injection::Payload {
            payload: Bytes::from_static(b"a12.5truenil cfg3nil!"),
            payload_type: "json".into(),
            payload_name: "stats".into()
        }
    );
    let Injection::Payload {
        payload_type,
        payload_name,
        ..
    } = &inj[1]
    else {
        panic!()
    };
    assert_eq!((payload_type.as_str(), payload_name.as_str()), ("txt", ""));
}

#[test]
fn return_codes_and_script_errors() {
    let mut sb = sandbox("function process_message() return -1, 'bad' end");
    assert_eq!(run(&mut sb, &message()).0, Ok((-1, Some("bad".into()))));
    let mut sb = sandbox("function process_message() return 'x' end");
    assert!(
        matches!(run(&mut sb, &message()).0, Err(SandboxError::Lua(t)) if t.contains("numeric status"))
    );
    let mut sb = sandbox("function process_message() error('boom') end");
    assert_eq!(
        run(&mut sb, &message()).0,
        Err(SandboxError::Lua(
            "process_message() test.lua:1: boom".into()
        ))
    );
    assert!(matches!(
        Sandbox::new(spec("x = ", Template::Analysis)),
        Err(SandboxError::Lua(_))
    ));
}

#[test]
fn environment_is_heka_s() {
    let mut sb = sandbox(
        r#"
        function process_message()
            local names = {}
            for k in pairs(_G) do names[#names+1] = k end
            table.sort(names)
            local os_names = {}
            for k in pairs(os) do os_names[#os_names+1] = k end
            table.sort(os_names)
            add_to_payload(table.concat(names, " "), "\n", table.concat(os_names, " "))
            inject_payload()
            return 0
        end"#,
    );
    let inj = ok(&mut sb);
    assert_eq!(
        payload(&inj[0]),
        "_G _VERSION add_to_payload assert decode_message error gcinfo getfenv getmetatable \
         inject_message inject_payload ipairs math next os pairs pcall process_message rawequal \
         rawget rawset read_config read_message read_next_field require select setfenv setmetatable \
         string table tonumber tostring type unpack write_message xpcall\nclock date difftime time"
    );
    for bad in [
        "os.execute('true')",
        "io.open('/etc/passwd')",
        "loadstring('return 1')",
        "dofile('/etc/passwd')",
        "load(function() end)",
        "require 'ffi'",
        "require 'io'",
        "require '../x'",
        "debug.getinfo(1)",
        "coroutine.create(print)",
        "string.dump(print)",
    ] {
        let mut sb = sandbox(&format!("function process_message() {bad} return 0 end"));
        assert!(
            matches!(run(&mut sb, &message()).0, Err(SandboxError::Lua(_))),
            "{bad}"
        );
    }
}

#[test]
fn the_io_template_has_io_and_more_of_os() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.txt");
    let src = format!(
        r#"
        function process_message()
            local f = assert(io.open({path:?}, "w"))
            f:write("written") f:close()
            local r = require("io").open({path:?}):read("*a")
            add_to_payload(r, " ", type(os.getenv), " ", type(os.exit), " ", type(os.setlocale),
                " ", type(coroutine), " ", type(collectgarbage))
            inject_payload()
            return 0
        end"#,
        path = path.display().to_string()
    );
    let mut sb = Sandbox::new(spec(&src, Template::Io)).unwrap();
    assert_eq!(
        payload(&ok(&mut sb)[0]),
        "written function nil nil table function"
    );
    // The analysis template has none of it.
    let mut sb = sandbox("function process_message() return type(io) == 'nil' and 0 or 1 end");
    ok(&mut sb);
}

#[test]
fn require_finds_modules_libraries_and_natives() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pkg")).unwrap();
    std::fs::write(
        dir.path().join("pkg/m.lua"),
        "local M = {} function M.f() return 41 end return M",
    )
    .unwrap();
    register_native("native_test", |lua| {
        let t = lua.create_table()?;
        t.set("v", 1)?;
        Ok(t)
    });
    let mut s = spec(
        r#"
        local m = require "pkg.m"
        local m2 = require "pkg.m"
        local s = require "string"
        require "native_test"
        function process_message()
            add_to_payload(m.f() + native_test.v, tostring(m == m2), tostring(s == string))
            inject_payload()
            return 0
        end"#,
        Template::Analysis,
    );
    s.module_dirs = vec!["/nonexistent".into(), dir.path().to_path_buf()];
    let mut sb = Sandbox::new(s).unwrap();
    assert_eq!(payload(&ok(&mut sb)[0]), "42truetrue");
}

#[test]
fn environments_cannot_reach_the_host() {
    let mut sb = sandbox(
        r#"
        n = 0
        function process_message()
            n = n + 1
            if n == 1 then
                assert(getfenv(0) == _G and getfenv(1) == _G)
                assert(getfenv(read_message) == _G)
                setfenv(0, {})
            end
            return 0
        end"#,
    );
    ok(&mut sb);
    ok(&mut sb);
    // Overwriting a global function only changes the script's own table.
    let mut sb =
        sandbox("function process_message() read_message = nil process_message = nil return 0 end");
    ok(&mut sb);
    assert!(
        matches!(run(&mut sb, &message()).0, Err(SandboxError::Lua(t)) if t.contains("not found"))
    );
}

#[test]
fn decode_message_round_trips() {
    let mut sb = sandbox(
        r#"
        function process_message()
            local m = decode_message(read_message("raw"))
            add_to_payload(#m.Uuid, m.Type, m.Severity, m.Fields[4].name, m.Fields[4].value[2],
                m.Fields[4].value_type)
            inject_payload()
            return 0
        end"#,
    );
    assert_eq!(payload(&ok(&mut sb)[0]), "16mytype3i62");
}

#[test]
fn preserve_data_keeps_globals_and_circular_buffers() {
    let src = r#"
require "circular_buffer"
count = 0
cb = circular_buffer.new(4, 2, 60)
cb:set_header(2, "bytes", "B", "avg")
function process_message()
    count = count + 1
    cb:add(120e9, 1, 5)
    cb:add(180e9, 2, 1.5)
    return 0
end
function timer_event(ns)
    -- Checks what came back: fails the call if anything differs.
    local name, unit, agg = cb:get_header(2)
    assert(count == 2, "count " .. tostring(count))
    assert(cb:get(120e9, 1) == 10, "cell " .. tostring(cb:get(120e9, 1)))
    assert(cb:get(180e9, 2) == 3)
    assert(name == "bytes" and unit == "B" and agg == "avg")
end
"#;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.data");
    let mut first = sandbox(src);
    for _ in 0..2 {
        first
            .process_message(Call {
                message: Some(&message()),
                ..Call::default()
            })
            .unwrap();
    }
    first.save_state(&state).unwrap();
    let mut second = sandbox(src);
    assert!(
        second.timer_event(0, Call::default()).is_err(),
        "a fresh state must fail the checks"
    );
    let outcome = second.restore_state(&state).unwrap();
    assert!(
        matches!(outcome, preserve::RestoreOutcome::Restored { .. }),
        "{outcome:?}"
    );
    second
        .timer_event(0, Call::default())
        .expect("the restored state passes the checks");
}

#[test]
fn circular_buffers_go_into_payloads_as_cbuf_text() {
    let mut sb = sandbox(
        r#"
require "circular_buffer"
cb = circular_buffer.new(2, 1, 60)
cb:set(60e9, 1, 7)
function timer_event(ns)
    add_to_payload(cb)
    inject_payload("cbuf", "graph")
end
"#,
    );
    let mut sink = Record::default();
    sb.timer_event(
        0,
        Call {
            sink: Some(&mut sink),
            ..Call::default()
        },
    )
    .unwrap();
    let [
        Injection::Payload {
            payload,
            payload_type,
            payload_name,
        },
    ] = &sink.0[..]
    else {
        panic!("expected one payload");
    };
    assert_eq!(
        (payload_type.as_str(), payload_name.as_str()),
        ("cbuf", "graph")
    );
    let text = std::str::from_utf8(payload).unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("{\"time\":0,\"rows\":2,\"columns\":1"),
        "{text}"
    );
    assert_eq!(lines.collect::<Vec<_>>(), ["nan", "7"]);
}
