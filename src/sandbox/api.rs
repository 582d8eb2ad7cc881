//! The functions Heka gives a sandbox script (HEKA-SPEC §5.2/§5.3):
//! `read_message`, `read_config`, `add_to_payload`, `inject_payload`,
//! `inject_message`, `decode_message`, `write_message` and
//! `read_next_field` (the last two in [`super::write`]).
//!
//! Functions that need the current message or the plugin's injection sink
//! are Lua wrappers around a hidden dispatcher (an upvalue, unreachable from
//! scripts without `debug`). For each call the VM sets the dispatcher to a
//! function made in `Lua::scope`, which borrows the current
//! [`MessageView`] and the [`Sink`]: scripts may keep `local read_message =
//! read_message` (Heka's idiom), nothing is copied per call, and only the
//! requested field is converted. Building messages from Lua tables lives in
//! `table.rs`.
//!
//! Every function exists in every plugin type; one a plugin type lacks in
//! Heka fails when called (no sink: injections are refused; no [`Edit`]:
//! `write_message` is refused; no message: `read_message` reads nil).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use heka_proto::{FieldValue, Message, MessageView};
use mlua::{Function, Lua, MultiValue, Table, Value};

use super::config::ConfigValue;
use super::limits::{self, Abort};
use super::modules::circular_buffer::CircularBuffer;
use super::modules::write_number;
use super::table;
use super::usage::Usage;
use super::write::{self, Edit};

/// `Type` of payload injections (`inject_payload`).
pub const SANDBOX_OUTPUT: &str = "heka.sandbox-output";
/// Field naming the payload's type (a file extension).
pub const PAYLOAD_TYPE: &str = "payload_type";
/// Field naming the payload.
pub const PAYLOAD_NAME: &str = "payload_name";
/// Heka's error-text size (`LSB_ERROR_SIZE` - 1).
pub const ERROR_SIZE: usize = 255;

/// What a script asked to inject; the [`Sink`] applies its plugin type's
/// rules (type prefix, forced headers, defaults from the original).
#[derive(Debug, Clone, PartialEq)]
pub enum Injection {
    /// `inject_message`: the message as the script built it.
    Message {
        /// The message; a uuid and a timestamp are always set.
        msg: Message,
        /// Whether the script set `Timestamp` (else it is now, in seconds).
        timestamp_set: bool,
    },
    /// `inject_payload`: the output buffer as a payload.
    Payload {
        /// The buffer.
        payload: Bytes,
        /// `payload_type`, "txt" by default.
        payload_type: String,
        /// `payload_name`, "" by default.
        payload_name: String,
    },
}

/// Where a plugin's injections go.
pub trait Sink {
    /// Injects; an error text refuses the injection and terminates the call.
    fn inject(&mut self, what: Injection) -> Result<(), String>;
}

/// What one call into the script may touch.
#[derive(Default)]
pub struct Call<'a> {
    /// The message `read_message` reads.
    pub message: Option<&'a MessageView>,
    /// Where injections go; `None` refuses them.
    pub sink: Option<&'a mut dyn Sink>,
    /// Where `write_message` edits a copy of `message` (decoders and
    /// encoders); `None` refuses writes.
    pub edit: Option<&'a mut Edit>,
}

/// One call in progress: the [`Call`] and the `read_next_field` cursor.
pub(crate) struct Frame<'a> {
    call: Call<'a>,
    next_field: usize,
}

impl<'a> Frame<'a> {
    pub(crate) fn new(call: Call<'a>) -> Frame<'a> {
        Frame {
            call,
            next_field: 0,
        }
    }

    /// The message as the script sees it: its own edits once it wrote.
    fn current(&mut self) -> Option<&MessageView> {
        if let Some(edit) = self.call.edit.as_deref_mut() {
            if edit.is_edited() {
                return edit.view();
            }
        }
        self.call.message
    }
}

/// The output buffer (`add_to_payload`), bounded by `output_limit`.
#[derive(Debug)]
pub(crate) struct OutputBuf {
    pub(crate) buf: RefCell<Vec<u8>>,
    pub(crate) limit: usize,
    usage: Arc<Usage>,
}

const OP_READ: i64 = 1;
const OP_INJECT: i64 = 2;
const OP_PAYLOAD: i64 = 3;
const OP_WRITE: i64 = 4;
const OP_NEXT_FIELD: i64 = 5;

// read_next_field's five results come back as one table (the dispatcher
// returns one value, which keeps read_message's path free of extra pushes).
const WRAPPERS: &str = r#"
local host, unpack = ...
function read_message(...) return host.call(1, ...) end
function inject_message(...) return host.call(2, ...) end
function inject_payload(...) return host.call(3, ...) end
function write_message(...) return host.call(4, ...) end
function read_next_field()
    local f = host.call(5)
    if f then return unpack(f, 1, 5) end
    return nil
end
"#;

/// Installs the API in a fresh state; returns the hidden host table whose
/// `call` entry the VM swaps per call.
pub(crate) fn install(
    lua: &Lua,
    output_limit: usize,
    config: BTreeMap<String, ConfigValue>,
    usage: Arc<Usage>,
) -> mlua::Result<(Table, Function)> {
    lua.set_app_data(OutputBuf {
        buf: RefCell::new(Vec::new()),
        limit: output_limit,
        usage,
    });
    let globals = lua.globals();
    globals.raw_set(
        "read_config",
        lua.create_function(move |lua, args: MultiValue| read_config(lua, &config, args))?,
    )?;
    globals.raw_set("add_to_payload", lua.create_function(add_to_payload)?)?;
    globals.raw_set(
        "decode_message",
        lua.create_function(|lua, s: mlua::LuaString| table::decode_message(lua, &s.as_bytes()))?,
    )?;
    let host = lua.create_table()?;
    let idle = lua.create_function(|_, _: MultiValue| -> mlua::Result<()> {
        Err(mlua::Error::runtime(
            "only available in process_message and timer_event",
        ))
    })?;
    host.raw_set("call", &idle)?;
    let unpack: Function = globals.raw_get("unpack")?;
    lua.load(WRAPPERS)
        .set_name("=heka")
        .call::<()>((host.clone(), unpack))?;
    Ok((host, idle))
}

/// The per-call dispatcher behind the wrappers.
pub(crate) fn dispatch(lua: &Lua, frame: &mut Frame<'_>, args: MultiValue) -> mlua::Result<Value> {
    let mut args = args.into_iter();
    let op = match args.next() {
        Some(Value::Integer(i)) => i,
        Some(Value::Number(n)) => n as i64,
        _ => 0,
    };
    let rest: Vec<Value> = args.collect();
    let call = &mut frame.call;
    match op {
        OP_READ => read_message(lua, frame.current(), &rest),
        OP_INJECT => {
            let Some(arg) = rest.into_iter().next() else {
                return Err(mlua::Error::runtime(
                    "inject_message() takes a table or a string",
                ));
            };
            let limit = lua.app_data_ref::<OutputBuf>().map_or(0, |o| o.limit);
            let (msg, timestamp_set) = table::message_from_lua(lua, arg, limit)?;
            if let Some(out) = lua.app_data_ref::<OutputBuf>() {
                out.usage
                    .output(heka_proto::prost::Message::encoded_len(&msg));
            }
            inject(lua, call, Injection::Message { msg, timestamp_set })
        }
        OP_PAYLOAD => inject_payload(lua, call, rest),
        OP_WRITE => {
            let Some(edit) = call.edit.as_deref_mut() else {
                return Err(mlua::Error::runtime(
                    "write_message() is only available in decoders and encoders",
                ));
            };
            write::write_message(edit, call.message, &rest)?;
            Ok(Value::Nil)
        }
        OP_NEXT_FIELD => {
            let mut cursor = frame.next_field;
            let out = write::read_next_field(lua, frame.current(), &mut cursor);
            frame.next_field = cursor;
            out
        }
        _ => Err(mlua::Error::runtime("unknown host call")),
    }
}

fn inject(lua: &Lua, call: &mut Call<'_>, what: Injection) -> mlua::Result<Value> {
    let result = match call.sink.as_deref_mut() {
        Some(sink) => sink.inject(what),
        None => Err("injection is not available here".to_owned()),
    };
    match result {
        Ok(()) => Ok(Value::Nil),
        Err(text) => Err(limits::abort(lua, Abort::Inject(text))),
    }
}

fn read_message(lua: &Lua, msg: Option<&MessageView>, args: &[Value]) -> mlua::Result<Value> {
    if args.is_empty() || args.len() > 3 {
        return Err(mlua::Error::runtime(
            "read_message() takes 1 to 3 arguments",
        ));
    }
    let Value::String(name) = &args[0] else {
        return Err(mlua::Error::runtime("read_message() name must be a string"));
    };
    let index = |i: usize| -> mlua::Result<usize> {
        match args.get(i) {
            None | Some(Value::Nil) => Ok(0),
            Some(Value::Integer(n)) if *n >= 0 => Ok(*n as usize),
            Some(Value::Number(n)) if *n >= 0.0 => Ok(*n as usize),
            _ => Err(mlua::Error::runtime(
                "read_message() indices must be numbers >= 0",
            )),
        }
    };
    let (fi, ai) = (index(1)?, index(2)?);
    let Some(msg) = msg else {
        return Ok(Value::Nil);
    };
    let name = name.as_bytes();
    let text = |b: &[u8]| lua.create_string(b).map(Value::String);
    match &name[..] {
        b"Type" => text(msg.r#type()),
        b"Logger" => text(msg.logger()),
        b"Payload" => text(msg.payload()),
        b"EnvVersion" => text(msg.env_version()),
        b"Hostname" => text(msg.hostname()),
        b"Uuid" => match msg.uuid_text() {
            Some(t) => text(&t),
            None => Ok(Value::Nil),
        },
        b"Timestamp" => Ok(Value::Number(msg.timestamp() as f64)),
        b"Severity" => Ok(Value::Integer(msg.severity().into())),
        b"Pid" => Ok(Value::Integer(msg.pid().into())),
        b"raw" if msg.raw().is_empty() => Ok(Value::Nil),
        b"raw" => text(msg.raw()),
        n if n.starts_with(b"Fields[") && n.ends_with(b"]") => {
            let field = &n[7..n.len() - 1];
            Ok(match msg.field_value(field, fi, ai) {
                None => Value::Nil,
                Some(FieldValue::String(s)) => text(s)?,
                Some(FieldValue::Bytes(b"")) => Value::Nil,
                Some(FieldValue::Bytes(b)) => text(b)?,
                Some(FieldValue::Integer(i)) => Value::Number(i as f64),
                Some(FieldValue::Double(d)) => Value::Number(d),
                Some(FieldValue::Bool(b)) => Value::Boolean(b),
            })
        }
        _ => Ok(Value::Nil),
    }
}

fn read_config(
    lua: &Lua,
    config: &BTreeMap<String, ConfigValue>,
    args: MultiValue,
) -> mlua::Result<Value> {
    let [Value::String(key)] = &args.into_iter().collect::<Vec<_>>()[..] else {
        return Err(mlua::Error::runtime(
            "read_config() takes exactly one string argument",
        ));
    };
    Ok(match config.get(&*key.to_string_lossy()) {
        None => Value::Nil,
        Some(ConfigValue::Str(s)) => Value::String(lua.create_string(s)?),
        Some(ConfigValue::Bool(b)) => Value::Boolean(*b),
        Some(ConfigValue::Num(n)) => Value::Number(*n),
    })
}

/// Appends Lua values to the output buffer as Heka's output did.
fn append(lua: &Lua, values: impl IntoIterator<Item = Value>) -> mlua::Result<()> {
    let over = {
        let Some(out) = lua.app_data_ref::<OutputBuf>() else {
            return Ok(());
        };
        let mut buf = out.buf.borrow_mut();
        let mut over = false;
        for v in values {
            match &v {
                Value::String(s) => buf.extend_from_slice(&s.as_bytes()),
                Value::Integer(i) => buf.extend_from_slice(i.to_string().as_bytes()),
                Value::Number(n) => {
                    let mut text = String::new();
                    write_number(&mut text, *n);
                    buf.extend_from_slice(text.as_bytes());
                }
                Value::Boolean(b) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
                Value::Nil => buf.extend_from_slice(b"nil"),
                // A circular buffer writes its cbuf or cbufd text (Heka's
                // graphs are fed this way).
                Value::UserData(ud) if ud.is::<CircularBuffer>() => {
                    let text = ud.borrow_mut::<CircularBuffer>()?.output();
                    buf.extend_from_slice(text.as_bytes());
                }
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "add_to_payload() does not support {}",
                        other.type_name()
                    )));
                }
            }
            if buf.len() > out.limit {
                buf.clear();
                over = true;
                break;
            }
        }
        out.usage.output(buf.len());
        over
    };
    if over {
        return Err(limits::abort(lua, Abort::Output));
    }
    Ok(())
}

fn add_to_payload(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    append(lua, args)
}

fn inject_payload(lua: &Lua, call: &mut Call<'_>, args: Vec<Value>) -> mlua::Result<Value> {
    let mut args = args.into_iter();
    let arg_text = |v: Option<Value>, default: &str| -> mlua::Result<String> {
        match v {
            None | Some(Value::Nil) => Ok(default.to_owned()),
            Some(Value::String(s)) if s.as_bytes().is_empty() => Ok(default.to_owned()),
            Some(Value::String(s)) => Ok(s.to_string_lossy()),
            Some(_) => Err(mlua::Error::runtime(
                "inject_payload() payload_type and payload_name must be strings",
            )),
        }
    };
    let payload_type = arg_text(args.next(), "txt")?;
    let payload_name = arg_text(args.next(), "")?;
    append(lua, args)?;
    let payload = match lua.app_data_ref::<OutputBuf>() {
        Some(out) => std::mem::take(&mut *out.buf.borrow_mut()),
        None => Vec::new(),
    };
    if payload.is_empty() {
        return Ok(Value::Nil);
    }
    inject(
        lua,
        call,
        Injection::Payload {
            payload: payload.into(),
            payload_type,
            payload_name,
        },
    )
}
