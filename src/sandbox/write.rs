//! `write_message` (HEKA-SPEC §5.3): decoders and encoders edit the message
//! they are handed. The first write copies the message into an [`Edit`]
//! the plugin owns; later writes change the copy, and `read_message` /
//! `read_next_field` read the copy from then on (re-indexed lazily, once
//! per run of writes), so a call that never writes pays nothing.
//!
//! Heka's rules, quirks included: headers take strings (Severity, Pid and
//! Timestamp also numbers or integer text, Timestamp also RFC 3339 text);
//! `Fields[name]` creates a field when `field_index` equals the number of
//! fields of that name (and `array_index` is 0), typed from the Lua value
//! (string STRING, number **DOUBLE**, boolean BOOL); an existing field
//! keeps its type, takes an overwrite or an append one past its end, and
//! never accepts a write when it is INTEGER or BYTES; `nil` deletes the
//! field, or one value when `array_index` is given. Any failure raises
//! "write_message() failed".

use bytes::Bytes;
use heka_proto::message::field::ValueType;
use heka_proto::{Field, Message, MessageView};
use mlua::{Lua, MultiValue, Value};

/// The message a script edited with `write_message`, owned by the plugin.
#[derive(Debug, Default)]
pub struct Edit {
    msg: Option<Message>,
    view: Option<MessageView>,
}

impl Edit {
    /// Takes the edited message, if the script wrote anything.
    pub fn take(&mut self) -> Option<Message> {
        self.view = None;
        self.msg.take()
    }

    /// Whether the script wrote anything.
    pub fn is_edited(&self) -> bool {
        self.msg.is_some()
    }

    /// The edited message, indexed for reading (`None` before any write).
    pub(crate) fn view(&mut self) -> Option<&MessageView> {
        let msg = self.msg.as_ref()?;
        if self.view.is_none() {
            self.view = MessageView::from_message(msg).ok();
        }
        self.view.as_ref()
    }

    fn message(&mut self, original: Option<&MessageView>) -> &mut Message {
        self.view = None;
        self.msg
            .get_or_insert_with(|| original.map(MessageView::to_message).unwrap_or_default())
    }
}

fn failed(why: &str) -> mlua::Error {
    mlua::Error::runtime(format!("write_message() failed: {why}"))
}

fn index(args: &[Value], i: usize) -> mlua::Result<Option<usize>> {
    match args.get(i) {
        None | Some(Value::Nil) => Ok(None),
        Some(Value::Integer(n)) if *n >= 0 => Ok(Some(*n as usize)),
        Some(Value::Number(n)) if *n >= 0.0 => Ok(Some(*n as usize)),
        _ => Err(failed("indices must be numbers >= 0")),
    }
}

/// `write_message(name, value [, representation [, field_index [,
/// array_index]]])` against `edit`, copying `original` on the first write.
pub(crate) fn write_message(
    edit: &mut Edit,
    original: Option<&MessageView>,
    args: &[Value],
) -> mlua::Result<()> {
    if args.len() < 2 || args.len() > 5 {
        return Err(failed("takes 2 to 5 arguments"));
    }
    let Value::String(name) = &args[0] else {
        return Err(failed("the name must be a string"));
    };
    let representation = match args.get(2) {
        None | Some(Value::Nil) => None,
        Some(Value::String(s)) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        Some(_) => return Err(failed("the representation must be a string")),
    };
    let fi = index(args, 3)?.unwrap_or(0);
    let ai = index(args, 4)?;
    let name = name.as_bytes();
    let value = &args[1];
    let msg = edit.message(original);
    match &name[..] {
        b"Type" => msg.r#type = Some(text(value)?),
        b"Logger" => msg.logger = Some(text(value)?),
        b"Payload" => msg.payload = Some(text(value)?),
        b"EnvVersion" => msg.env_version = Some(text(value)?),
        b"Hostname" => msg.hostname = Some(text(value)?),
        b"Uuid" => msg.uuid = Bytes::copy_from_slice(&parse_uuid(&text(value)?)?),
        b"Timestamp" => msg.timestamp = timestamp(value)?,
        b"Severity" => msg.severity = Some(small_int(value)?),
        b"Pid" => msg.pid = Some(small_int(value)?),
        n if n.starts_with(b"Fields[") && n.ends_with(b"]") => {
            let field = &n[7..n.len() - 1];
            write_field(msg, field, value, representation, fi, ai)?;
        }
        _ => return Err(failed("unknown name")),
    }
    Ok(())
}

fn text(v: &Value) -> mlua::Result<Bytes> {
    match v {
        Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
        _ => Err(failed("this header takes a string")),
    }
}

/// An integer written as Go's `ParseInt(s, 0, bits)` reads it: an optional
/// sign, then decimal, `0x` hex or leading-`0` octal.
fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    // One sign only, as in Go (Rust's parsers would take a second one).
    if !digits.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let magnitude = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse::<u64>().ok()?
    };
    // The magnitude of i64::MIN is one more than i64::MAX.
    if neg {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

fn small_int(v: &Value) -> mlua::Result<i32> {
    match v {
        Value::Integer(i) => Ok(*i as i32),
        Value::Number(n) => Ok(*n as i32),
        Value::String(s) => parse_int(&s.to_string_lossy())
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| failed("not an integer")),
        _ => Err(failed("takes a number or integer text")),
    }
}

fn timestamp(v: &Value) -> mlua::Result<i64> {
    match v {
        Value::Integer(i) => Ok(*i),
        Value::Number(n) => Ok(*n as i64),
        Value::String(s) => {
            let s = s.to_string_lossy();
            parse_int(&s)
                .or_else(|| rfc3339_ns(&s))
                .ok_or_else(|| failed("cannot parse the timestamp"))
        }
        _ => Err(failed("Timestamp takes a number or text")),
    }
}

/// `YYYY-MM-DD[T ]hh:mm:ss[.frac](Z|±hh:mm)` as ns since the epoch.
fn rfc3339_ns(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut at = 19;
    let mut frac_ns = 0i64;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        at = start;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let digits = &s[start..at];
        if digits.is_empty() {
            return None;
        }
        let mut padded: String = digits.chars().take(9).collect();
        while padded.len() < 9 {
            padded.push('0');
        }
        frac_ns = padded.parse().ok()?;
    }
    let offset_s = match &b[at..] {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let h = num(at + 1..at + 3)?;
            let m = num(at + 4..at + 6)?;
            let off = h * 3600 + m * 60;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days = crate::strftime::days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

/// A UUID's 36-character text (optionally `urn:uuid:`-prefixed) as bytes.
fn parse_uuid(text: &[u8]) -> mlua::Result<[u8; 16]> {
    let text = text.strip_prefix(b"urn:uuid:").unwrap_or(text);
    let bad = || failed("bad UUID text");
    if text.len() != 36 || [8, 13, 18, 23].iter().any(|&i| text[i] != b'-') {
        return Err(bad());
    }
    let hex: Vec<u8> = text.iter().copied().filter(|&c| c != b'-').collect();
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn write_field(
    msg: &mut Message,
    name: &[u8],
    value: &Value,
    representation: Option<Bytes>,
    fi: usize,
    ai: Option<usize>,
) -> mlua::Result<()> {
    let at = msg
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.name == name)
        .map(|(i, _)| i)
        .nth(fi);
    if let Value::Nil = value {
        let Some(at) = at else {
            return Err(failed("no such field to delete"));
        };
        return match ai {
            None => {
                msg.fields.remove(at);
                Ok(())
            }
            Some(ai) => remove_value(&mut msg.fields[at], ai),
        };
    }
    let Some(at) = at else {
        let existing = msg.fields.iter().filter(|f| f.name == name).count();
        if fi != existing || ai.unwrap_or(0) != 0 {
            return Err(failed("field index out of range"));
        }
        let mut field = Field {
            name: Bytes::copy_from_slice(name),
            representation,
            ..Field::default()
        };
        set_value(&mut field, value, 0)?;
        msg.fields.push(field);
        return Ok(());
    };
    set_value(&mut msg.fields[at], value, ai.unwrap_or(0))
}

/// Writes `value` at `ai` of an existing (or new, empty) field.
fn set_value(field: &mut Field, value: &Value, ai: usize) -> mlua::Result<()> {
    fn put<T>(values: &mut Vec<T>, ai: usize, v: T) -> mlua::Result<()> {
        match ai.cmp(&values.len()) {
            std::cmp::Ordering::Less => values[ai] = v,
            std::cmp::Ordering::Equal => values.push(v),
            std::cmp::Ordering::Greater => return Err(failed("array index out of range")),
        }
        Ok(())
    }
    let new = field.value_count() == 0 && field.value_type.is_none();
    let kind = field.kind();
    match value {
        Value::String(s) if new || kind == Some(ValueType::String) => {
            field.value_type = Some(ValueType::String as i32);
            put(
                &mut field.value_string,
                ai,
                Bytes::copy_from_slice(&s.as_bytes()),
            )
        }
        Value::Integer(_) | Value::Number(_) if new || kind == Some(ValueType::Double) => {
            let n = match value {
                Value::Integer(i) => *i as f64,
                Value::Number(n) => *n,
                _ => unreachable!("matched above"),
            };
            field.value_type = Some(ValueType::Double as i32);
            put(&mut field.value_double, ai, n)
        }
        Value::Boolean(b) if new || kind == Some(ValueType::Bool) => {
            field.value_type = Some(ValueType::Bool as i32);
            put(&mut field.value_bool, ai, *b)
        }
        Value::String(_) | Value::Integer(_) | Value::Number(_) | Value::Boolean(_) => {
            Err(failed("the value does not fit the field's type"))
        }
        other => Err(failed(&format!(
            "unsupported value type {}",
            other.type_name()
        ))),
    }
}

fn remove_value(field: &mut Field, ai: usize) -> mlua::Result<()> {
    fn cut<T>(values: &mut Vec<T>, ai: usize) -> mlua::Result<()> {
        if ai >= values.len() {
            return Err(failed("array index out of range"));
        }
        values.remove(ai);
        Ok(())
    }
    match field.kind() {
        Some(ValueType::String) => cut(&mut field.value_string, ai),
        Some(ValueType::Bytes) => cut(&mut field.value_bytes, ai),
        Some(ValueType::Integer) => cut(&mut field.value_integer, ai),
        Some(ValueType::Double) => cut(&mut field.value_double, ai),
        Some(ValueType::Bool) => cut(&mut field.value_bool, ai),
        None => Err(failed("unknown field type")),
    }
}

/// `read_next_field()`: the next field of `msg` after `*cursor` as
/// `value_type, name, first value, representation, count`, or nil at the
/// end. An empty BYTES value (or a field without values) reads as nil.
pub(crate) fn read_next_field(
    lua: &Lua,
    msg: Option<&MessageView>,
    cursor: &mut usize,
) -> mlua::Result<MultiValue> {
    let Some(field) = msg.and_then(|m| m.fields().nth(*cursor)) else {
        return Ok(MultiValue::from_iter([Value::Nil]));
    };
    *cursor += 1;
    let value = match field.value(0) {
        None | Some(heka_proto::FieldValue::Bytes(b"")) => Value::Nil,
        Some(heka_proto::FieldValue::String(s) | heka_proto::FieldValue::Bytes(s)) => {
            Value::String(lua.create_string(s)?)
        }
        Some(heka_proto::FieldValue::Integer(i)) => Value::Number(i as f64),
        Some(heka_proto::FieldValue::Double(d)) => Value::Number(d),
        Some(heka_proto::FieldValue::Bool(b)) => Value::Boolean(b),
    };
    Ok(MultiValue::from_iter([
        Value::Integer(field.value_type().into()),
        Value::String(lua.create_string(field.name())?),
        value,
        Value::String(lua.create_string(field.representation().unwrap_or_default())?),
        Value::Integer(field.value_count() as i64),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{Call, Limits, Sandbox, SandboxSpec, Template};
    use heka_proto::FieldValue;

    fn sandbox(src: &str) -> Sandbox {
        Sandbox::new(SandboxSpec {
            chunk_name: "w.lua".into(),
            source: src.as_bytes().to_vec(),
            template: Template::Analysis,
            limits: Limits::default(),
            module_dirs: Vec::new(),
            config: Default::default(),
        })
        .unwrap()
    }

    fn original() -> MessageView {
        let mut m = Message::new([9; 16], 1);
        m.r#type = Some(Bytes::from_static(b"orig"));
        m.fields = vec![
            Field::string("s", "one"),
            Field::bytes("b", b"\x01\x02"),
            Field::integers("i", [5, 6]),
            Field::double("d", 2.5).with_representation("ms"),
            Field::boolean("t", true),
            Field::bytes("e", b""),
        ];
        MessageView::from_message(&m).unwrap()
    }

    /// Runs process_message over `original()` with an edit; returns the
    /// status, error text and the edited message.
    fn run(sb: &mut Sandbox) -> (i64, Option<String>, Option<Message>) {
        let msg = original();
        let mut edit = Edit::default();
        let (code, text) = sb
            .process_message(Call {
                message: Some(&msg),
                edit: Some(&mut edit),
                ..Call::default()
            })
            .unwrap();
        (code, text, edit.take())
    }

    #[test]
    fn read_next_field_walks_every_value_type_then_nil() {
        let mut sb = sandbox(
            r#"
            function process_message()
                local out = {}
                while true do
                    local vt, name, value, rep, count = read_next_field()
                    if not vt then break end
                    out[#out + 1] = table.concat({vt, name, tostring(value), rep, count}, ":")
                end
                return -1, table.concat(out, " ")
            end"#,
        );
        let (_, text, _) = run(&mut sb);
        assert_eq!(
            text.as_deref(),
            Some("0:s:one::1 1:b:\x01\x02::1 2:i:5::2 3:d:2.5:ms:1 4:t:true::1 1:e:nil::1")
        );
        // The cursor starts again with every call.
        let (_, again, _) = run(&mut sb);
        assert_eq!(again, text);
    }

    #[test]
    fn write_message_edits_headers_and_fields_with_heka_s_rules() {
        let mut sb = sandbox(
            r#"
            function process_message()
                write_message("Type", "new")
                write_message("Severity", "0x3")
                write_message("Pid", 42)
                write_message("Timestamp", "1970-01-01T00:00:02Z")
                write_message("Uuid", "00010203-0405-0607-0809-0a0b0c0d0e0f")
                write_message("Fields[s]", "two", "", 0, 1)        -- append
                write_message("Fields[d]", 7)                       -- overwrite a double
                write_message("Fields[n]", 1, "count")              -- new: a DOUBLE
                write_message("Fields[s]", "second", nil, 1)        -- new field of a taken name
                write_message("Fields[t]", nil)                     -- delete
                write_message("Fields[s]", nil, nil, 0, 0)          -- delete one value
                for _, bad in ipairs{
                    {"Fields[i]", 1}, {"Fields[b]", "x"}, {"Fields[s]", true},
                    {"Fields[x]", 1, nil, 1}, {"Fields[s]", "y", nil, 0, 5}, {"Pid", "x"},
                    {"Type", 1}, {"Nope", "x"}, {"Fields[missing]", nil},
                } do
                    assert(not pcall(write_message, unpack(bad, 1, 5)), bad[1])
                end
                return 0, read_message("Type") .. read_message("Fields[s]") .. read_message("Fields[n]")
            end"#,
        );
        let (code, text, edited) = run(&mut sb);
        assert_eq!((code, text.as_deref()), (0, Some("newtwo1")));
        let m = edited.expect("the script wrote");
        let v = MessageView::from_message(&m).unwrap();
        assert_eq!(v.r#type(), b"new");
        assert_eq!((v.severity(), v.pid()), (3, 42));
        assert_eq!(v.timestamp(), 2_000_000_000);
        assert_eq!(
            v.uuid(),
            &core::array::from_fn::<u8, 16, _>(|i| i as u8)[..]
        );
        assert_eq!(v.field_value(b"s", 0, 0), Some(FieldValue::String(b"two")));
        assert_eq!(
            v.field_value(b"s", 1, 0),
            Some(FieldValue::String(b"second"))
        );
        assert_eq!(v.field_value(b"d", 0, 0), Some(FieldValue::Double(7.0)));
        assert_eq!(v.field_value(b"n", 0, 0), Some(FieldValue::Double(1.0)));
        assert_eq!(
            v.field(b"n", 0).unwrap().representation(),
            Some(&b"count"[..])
        );
        assert_eq!(v.field(b"t", 0), None);
        assert_eq!(v.field_value(b"i", 0, 1), Some(FieldValue::Integer(6)));
    }

    #[test]
    fn write_message_needs_an_edit() {
        let mut sb = sandbox("function process_message() write_message('Type', 'x') return 0 end");
        let err = sb.process_message(Call::default()).unwrap_err();
        assert!(err.to_string().contains("decoders and encoders"), "{err}");
    }

    #[test]
    fn integers_parse_as_go_s_parse_int_base_0() {
        assert_eq!(parse_int("42"), Some(42));
        assert_eq!(parse_int("-0x10"), Some(-16));
        assert_eq!(parse_int("010"), Some(8));
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("4x"), None);
        assert_eq!(parse_int(""), None);
        // The whole i64 range, and one sign only (a second one used to
        // negate i64::MIN, overflowing).
        assert_eq!(parse_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int("0x7fffffffffffffff"), Some(i64::MAX));
        assert_eq!(parse_int("9223372036854775808"), None);
        assert_eq!(parse_int("--9223372036854775808"), None);
        assert_eq!(parse_int("-0x-8000000000000000"), None);
        assert_eq!(parse_int("+-5"), None);
        assert_eq!(parse_int("0x+5"), None);
    }

    #[test]
    fn rfc3339_timestamps() {
        assert_eq!(rfc3339_ns("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(
            rfc3339_ns("2013-11-13 18:23:47.123+01:00"),
            Some(1_384_363_427_123_000_000)
        );
        assert_eq!(rfc3339_ns("2013-11-13T18:23:47"), None);
        assert_eq!(rfc3339_ns("2013-13-13T18:23:47Z"), None);
    }

    #[test]
    fn uuids_parse_from_text() {
        let u = parse_uuid(b"urn:uuid:00010203-0405-0607-0809-0a0b0c0d0e0f").unwrap();
        assert_eq!(u, core::array::from_fn::<u8, 16, _>(|i| i as u8));
        assert!(parse_uuid(b"00010203-0405-0607-0809-0a0b0c0d0e0").is_err());
        assert!(parse_uuid(b"0001020304050607080900a0b0c0d0e0f000").is_err());
    }
}
