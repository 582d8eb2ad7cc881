//! Heka messages to and from Lua tables: the table form `inject_message`
//! takes (HEKA-SPEC §5.3) and the array form `decode_message` returns.
//!
//! Lua numbers become DOUBLE fields unless `value_type = 2` (INTEGER);
//! strings become STRING unless `value_type = 1` (BYTES). The bytes copied
//! out of Lua are counted against `output_limit` as they are copied, so an
//! oversized message is refused before it is built.

use bytes::Bytes;
use heka_proto::{Field, Message};
use mlua::{Lua, Table, Value};

use super::limits::{self, Abort};

/// Builds a message from `inject_message`'s argument (a table, or a string
/// of protobuf bytes). Returns the message and whether `Timestamp` was set.
pub(crate) fn message_from_lua(
    lua: &Lua,
    arg: Value,
    limit: usize,
) -> mlua::Result<(Message, bool)> {
    let mut size = Size { used: 0, limit };
    match arg {
        Value::String(s) => {
            let bytes = s.as_bytes();
            size.add(lua, bytes.len())?;
            let msg = heka_proto::ext::decode_message(Bytes::copy_from_slice(&bytes))
                .map_err(|_| mlua::Error::runtime("inject_message() protobuf unmarshal failed"))?;
            Ok((msg, true))
        }
        Value::Table(t) => from_table(lua, &t, &mut size),
        _ => Err(mlua::Error::runtime(
            "inject_message() takes a table or a string",
        )),
    }
}

struct Size {
    used: usize,
    limit: usize,
}

impl Size {
    fn add(&mut self, lua: &Lua, n: usize) -> mlua::Result<()> {
        self.used += n;
        if self.limit > 0 && self.used > self.limit {
            return Err(limits::abort(lua, Abort::Output));
        }
        Ok(())
    }

    fn bytes(&mut self, lua: &Lua, key: &str, v: Value) -> mlua::Result<Option<Bytes>> {
        let s = match v {
            Value::Nil => return Ok(None),
            Value::String(s) => s,
            v @ (Value::Number(_) | Value::Integer(_)) => match lua.coerce_string(v)? {
                Some(s) => s,
                None => return Ok(None),
            },
            _ => return Err(bad(key)),
        };
        let b = s.as_bytes();
        self.add(lua, b.len())?;
        Ok(Some(Bytes::copy_from_slice(&b)))
    }
}

fn bad(key: &str) -> mlua::Error {
    mlua::Error::runtime(format!("inject_message() invalid value for {key}"))
}

fn number(key: &str, v: &Value) -> mlua::Result<Option<f64>> {
    match v {
        Value::Nil => Ok(None),
        Value::Number(n) => Ok(Some(*n)),
        Value::Integer(i) => Ok(Some(*i as f64)),
        _ => Err(bad(key)),
    }
}

fn from_table(lua: &Lua, t: &Table, size: &mut Size) -> mlua::Result<(Message, bool)> {
    let uuid = match t.raw_get::<Value>("Uuid")? {
        Value::String(s) if s.as_bytes().len() == 16 => {
            let mut u = [0u8; 16];
            u.copy_from_slice(&s.as_bytes());
            u
        }
        _ => crate::host::uuid_v4(),
    };
    let timestamp = number("Timestamp", &t.raw_get("Timestamp")?)?;
    let ts = match timestamp {
        Some(n) => n as i64,
        None => crate::host::now_ns() / 1_000_000_000 * 1_000_000_000,
    };
    let mut msg = Message::new(uuid, ts);
    msg.r#type = size.bytes(lua, "Type", t.raw_get("Type")?)?;
    msg.logger = size.bytes(lua, "Logger", t.raw_get("Logger")?)?;
    msg.payload = size.bytes(lua, "Payload", t.raw_get("Payload")?)?;
    msg.env_version = size.bytes(lua, "EnvVersion", t.raw_get("EnvVersion")?)?;
    msg.hostname = size.bytes(lua, "Hostname", t.raw_get("Hostname")?)?;
    msg.severity = number("Severity", &t.raw_get("Severity")?)?.map(|n| n as i32);
    msg.pid = number("Pid", &t.raw_get("Pid")?)?.map(|n| n as i32);
    match t.raw_get::<Value>("Fields")? {
        Value::Nil => {}
        Value::Table(fields) => msg.fields = fields_from(lua, &fields, size)?,
        _ => return Err(bad("Fields")),
    }
    Ok((msg, timestamp.is_some()))
}

fn fields_from(lua: &Lua, t: &Table, size: &mut Size) -> mlua::Result<Vec<Field>> {
    let mut out = Vec::new();
    if t.raw_len() > 0 {
        // Array form: { {name=..., value=..., value_type=..., representation=...}, ... }
        for entry in t.sequence_values::<Table>() {
            let entry = entry.map_err(|_| bad("Fields"))?;
            let name = size.bytes(lua, "Fields name", entry.raw_get("name")?)?;
            let Some(name) = name else {
                return Err(bad("Fields name"));
            };
            if let Some(f) = field(lua, name, entry.raw_get("value")?, &entry, size)? {
                out.push(f);
            }
        }
        return Ok(out);
    }
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let Value::String(k) = k else {
            return Err(bad("Fields"));
        };
        let name = Bytes::copy_from_slice(&k.as_bytes());
        size.add(lua, name.len())?;
        let f = match &v {
            Value::Table(obj) if obj.raw_len() == 0 && !obj.raw_get::<Value>("value")?.is_nil() => {
                field(lua, name, obj.raw_get("value")?, obj, size)?
            }
            _ => field(lua, name, v, &lua.create_table()?, size)?,
        };
        out.extend(f);
    }
    Ok(out)
}

/// One field from a scalar or array `value`; `meta` may hold `value_type`
/// and `representation`. Empty arrays make no field.
fn field(
    lua: &Lua,
    name: Bytes,
    value: Value,
    meta: &Table,
    size: &mut Size,
) -> mlua::Result<Option<Field>> {
    let value_type = number("value_type", &meta.raw_get("value_type")?)?.map(|n| n as i64);
    let representation = size.bytes(lua, "representation", meta.raw_get("representation")?)?;
    let values: Vec<Value> = match value {
        Value::Table(arr) => arr
            .sequence_values::<Value>()
            .collect::<mlua::Result<_>>()?,
        v => vec![v],
    };
    let Some(first) = values.first() else {
        return Ok(None);
    };
    let mut f = Field {
        name,
        value_type: None,
        representation,
        ..Field::default()
    };
    let mixed = || mlua::Error::runtime("inject_message() array values must share one type");
    match first {
        Value::String(_) => {
            let bytes = value_type == Some(1);
            f.value_type = Some(if bytes { 1 } else { 0 });
            for v in values {
                let Value::String(s) = v else {
                    return Err(mixed());
                };
                let b = s.as_bytes();
                size.add(lua, b.len())?;
                let b = Bytes::copy_from_slice(&b);
                if bytes {
                    f.value_bytes.push(b);
                } else {
                    f.value_string.push(b);
                }
            }
        }
        Value::Number(_) | Value::Integer(_) => {
            let integer = value_type == Some(2);
            f.value_type = Some(if integer { 2 } else { 3 });
            for v in values {
                let n = number("value", &v)
                    .map_err(|_| mixed())?
                    .ok_or_else(mixed)?;
                size.add(lua, 8)?;
                if integer {
                    f.value_integer.push(n as i64);
                } else {
                    f.value_double.push(n);
                }
            }
        }
        Value::Boolean(_) => {
            f.value_type = Some(4);
            for v in values {
                let Value::Boolean(b) = v else {
                    return Err(mixed());
                };
                size.add(lua, 1)?;
                f.value_bool.push(b);
            }
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "inject_message() unsupported field value type {}",
                other.type_name()
            )));
        }
    }
    Ok(Some(f))
}

/// `decode_message(bytes)`: the message in array form, `Uuid` as raw bytes.
pub(crate) fn decode_message(lua: &Lua, bytes: &[u8]) -> mlua::Result<Table> {
    let msg = heka_proto::ext::decode_message(Bytes::copy_from_slice(bytes))
        .map_err(|_| mlua::Error::runtime("decode_message() protobuf unmarshal failed"))?;
    if msg.uuid.len() != 16 {
        return Err(mlua::Error::runtime("decode_message() missing uuid"));
    }
    let t = lua.create_table()?;
    t.raw_set("Uuid", lua.create_string(&msg.uuid)?)?;
    t.raw_set("Timestamp", msg.timestamp as f64)?;
    let headers = [
        ("Type", &msg.r#type),
        ("Logger", &msg.logger),
        ("Payload", &msg.payload),
        ("EnvVersion", &msg.env_version),
        ("Hostname", &msg.hostname),
    ];
    for (key, v) in headers {
        if let Some(v) = v {
            t.raw_set(key, lua.create_string(v)?)?;
        }
    }
    if let Some(s) = msg.severity {
        t.raw_set("Severity", s)?;
    }
    if let Some(p) = msg.pid {
        t.raw_set("Pid", p)?;
    }
    let fields = lua.create_table()?;
    for (i, f) in msg.fields.iter().enumerate() {
        let ft = lua.create_table()?;
        ft.raw_set("name", lua.create_string(&f.name)?)?;
        let vt = f.value_type.unwrap_or(0);
        ft.raw_set("value_type", vt)?;
        if let Some(r) = &f.representation {
            ft.raw_set("representation", lua.create_string(r)?)?;
        }
        let values = lua.create_table()?;
        let count = f.value_count();
        for j in 0..count {
            let v = match f.value(j) {
                Some(heka_proto::FieldValue::String(s) | heka_proto::FieldValue::Bytes(s)) => {
                    Value::String(lua.create_string(s)?)
                }
                Some(heka_proto::FieldValue::Integer(n)) => Value::Number(n as f64),
                Some(heka_proto::FieldValue::Double(d)) => Value::Number(d),
                Some(heka_proto::FieldValue::Bool(b)) => Value::Boolean(b),
                None => Value::Nil,
            };
            values.raw_set(j + 1, v)?;
        }
        ft.raw_set("value", values)?;
        fields.raw_set(i + 1, ft)?;
    }
    t.raw_set("Fields", fields)?;
    Ok(t)
}
