//! The functions Heka gives a sandbox script (HEKA-SPEC §5.2/§5.3):
//! `read_message`, `read_config`, `add_to_payload`, `inject_payload`,
//! `inject_message`, `decode_message`, `write_message` and
//! `read_next_field` (the last two in [`super::write`]).
//!
//! Functions that need the current message or the plugin's injection sink
//! reach them through the sandbox's slot (`Slot`): for each call the VM lends
//! the call's frame (`Frame`) (message, sink, edit) to the slot, and the
//! functions, created once with the state, borrow it from there. Scripts
//! may keep `local read_message = read_message` (Heka's idiom), nothing is
//! copied per call, and only the requested field is converted.
//! `read_message`, the per-message call, is a raw C function (`read.rs`).
//!
//! Every function exists in every plugin type; one a plugin type lacks in
//! Heka fails when called (no sink: injections are refused; no [`Edit`]:
//! `write_message` is refused; no message: `read_message` reads nil).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use heka_proto::{Message, MessageView};
use mlua::{Lua, MultiValue, Value};

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
    /// What the entry point returned (set by the driver).
    pub(crate) returned: super::drive::Returned,
}

impl<'a> Frame<'a> {
    pub(crate) fn new(call: Call<'a>) -> Frame<'a> {
        Frame {
            call,
            next_field: 0,
            returned: Default::default(),
        }
    }

    /// The message as the script sees it: its own edits once it wrote.
    pub(crate) fn current(&mut self) -> Option<&MessageView> {
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

/// Where the API functions find the call in progress: the VM lends each
/// call's [`Frame`] to it for the duration of the call.
pub(crate) struct Slot {
    frame: Cell<*mut ()>,
}

#[allow(unsafe_code)]
// SAFETY: the pointer is only set and read inside calls into the sandbox's
// Lua state, which mlua's `send` feature serialises with the state's lock;
// it never outlives the call that set it (see `Entered`).
unsafe impl Send for Slot {}
#[allow(unsafe_code)]
// SAFETY: as above: no two threads are ever inside the state at once.
unsafe impl Sync for Slot {}

/// The frame lent to a [`Slot`]; dropping it takes the frame back.
pub(crate) struct Entered<'s> {
    slot: &'s Slot,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.slot.frame.set(std::ptr::null_mut());
    }
}

impl Slot {
    /// An empty slot.
    pub(crate) fn new() -> Arc<Slot> {
        Arc::new(Slot {
            frame: Cell::new(std::ptr::null_mut()),
        })
    }

    /// Lends `frame` to the API functions until the returned guard drops.
    pub(crate) fn enter<'s>(&'s self, frame: &'s mut Frame<'_>) -> Entered<'s> {
        self.frame.set((frame as *mut Frame<'_>).cast());
        Entered { slot: self }
    }

    /// Runs `f` with the current frame (`None` outside a call, or inside a
    /// function that already holds it). The slot is empty while `f` runs,
    /// so the frame is never borrowed twice.
    pub(crate) fn with<R>(&self, f: impl FnOnce(Option<&mut Frame<'_>>) -> R) -> R {
        struct Restore<'a>(&'a Slot, *mut ());
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.frame.set(self.1);
            }
        }
        let taken = Restore(self, self.frame.replace(std::ptr::null_mut()));
        // SAFETY: a non-null pointer was set by `enter` from a live
        // `&mut Frame` whose guard has not dropped (it resets the slot), and
        // the slot stays empty until this borrow ends.
        #[allow(unsafe_code)]
        let frame = unsafe { taken.1.cast::<Frame<'_>>().as_mut() };
        f(frame)
    }
}

fn no_call(name: &str) -> mlua::Error {
    mlua::Error::runtime(format!(
        "{name}() is only available in process_message and timer_event"
    ))
}

/// Installs the API in a fresh state; returns the slot the VM lends each
/// call's frame to.
pub(crate) fn install(
    lua: &Lua,
    output_limit: usize,
    config: BTreeMap<String, ConfigValue>,
    usage: Arc<Usage>,
) -> mlua::Result<Arc<Slot>> {
    lua.set_app_data(OutputBuf {
        buf: RefCell::new(Vec::new()),
        limit: output_limit,
        usage,
    });
    let slot = Slot::new();
    // The raw read_message holds a plain pointer to the slot: the state
    // keeps it alive.
    lua.set_app_data(Arc::clone(&slot));
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
    globals.raw_set("read_message", super::read::create(lua, &slot)?)?;
    let s = Arc::clone(&slot);
    globals.raw_set(
        "inject_message",
        lua.create_function(move |lua, arg: Option<Value>| {
            s.with(|frame| {
                let frame = frame.ok_or_else(|| no_call("inject_message"))?;
                inject_message(lua, &mut frame.call, arg)
            })
        })?,
    )?;
    let s = Arc::clone(&slot);
    globals.raw_set(
        "inject_payload",
        lua.create_function(move |lua, args: MultiValue| {
            s.with(|frame| {
                let frame = frame.ok_or_else(|| no_call("inject_payload"))?;
                inject_payload(lua, &mut frame.call, args)
            })
        })?,
    )?;
    let s = Arc::clone(&slot);
    globals.raw_set(
        "write_message",
        lua.create_function(move |_, args: MultiValue| {
            s.with(|frame| {
                let frame = frame.ok_or_else(|| no_call("write_message"))?;
                let call = &mut frame.call;
                let Some(edit) = call.edit.as_deref_mut() else {
                    return Err(mlua::Error::runtime(
                        "write_message() is only available in decoders and encoders",
                    ));
                };
                let args: Vec<Value> = args.into_iter().collect();
                write::write_message(edit, call.message, &args)
            })
        })?,
    )?;
    let s = Arc::clone(&slot);
    globals.raw_set(
        "read_next_field",
        lua.create_function(move |lua, ()| {
            s.with(|frame| {
                let frame = frame.ok_or_else(|| no_call("read_next_field"))?;
                let mut cursor = frame.next_field;
                let out = write::read_next_field(lua, frame.current(), &mut cursor);
                frame.next_field = cursor;
                out
            })
        })?,
    )?;
    Ok(slot)
}

fn inject_message(lua: &Lua, call: &mut Call<'_>, arg: Option<Value>) -> mlua::Result<Value> {
    let Some(arg) = arg else {
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

fn inject_payload(lua: &Lua, call: &mut Call<'_>, args: MultiValue) -> mlua::Result<Value> {
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
