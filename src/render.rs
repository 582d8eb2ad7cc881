//! Messages as text for people and scripts: the `txt` and `json` formats of
//! heka-cat (and of any later tool that prints messages).
//!
//! - `txt` keeps Heka's header lines (`Timestamp:`, `Type:`, ..., `Severity:`)
//!   and prints each field on its own line in protobuf text form.
//! - `json` has the shape Go's `encoding/json` gave Heka's message struct:
//!   protobuf field names, unset optional headers left out, bytes (the uuid
//!   included) in base64, `value_type` as its number. Text that is not UTF-8
//!   is shown with U+FFFD, as Go's encoder did.

use std::fmt::Write as _;

use heka_proto::{Field, Message};
use serde_json::{Map, Value, json};

/// A timestamp in nanoseconds as Go's `time.Time.String()` prints it in UTC:
/// `2006-01-02 15:04:05.999999999 +0000 UTC`, trailing zeros of the fraction dropped.
pub fn timestamp(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (the
/// era-based algorithm: 400-year eras of 146097 days).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Standard base64 with padding (RFC 4648 §4), as Go's JSON encodes bytes.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// A quoted string in protobuf text form: `"` and `\` and control
/// characters escaped, printable UTF-8 kept, invalid bytes as octal escapes.
fn quoted(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\{b:03o}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\{b:03o}");
        }
    }
    out.push('"');
}

/// One field in protobuf text form, as Heka's text output showed fields:
/// `name:"status" value_type:INTEGER value_integer:200`.
pub fn field_text(field: &Field) -> String {
    let mut out = String::from("name:");
    quoted(&mut out, &field.name);
    match field.kind() {
        Some(kind) => {
            let _ = write!(out, " value_type:{}", kind.as_str_name());
        }
        None => {
            let _ = write!(out, " value_type:{}", field.value_type.unwrap_or_default());
        }
    }
    if let Some(rep) = &field.representation {
        out.push_str(" representation:");
        quoted(&mut out, rep);
    }
    for s in &field.value_string {
        out.push_str(" value_string:");
        quoted(&mut out, s);
    }
    for b in &field.value_bytes {
        out.push_str(" value_bytes:");
        quoted(&mut out, b);
    }
    for i in &field.value_integer {
        let _ = write!(out, " value_integer:{i}");
    }
    for d in &field.value_double {
        let _ = write!(out, " value_double:{d}");
    }
    for b in &field.value_bool {
        let _ = write!(out, " value_bool:{b}");
    }
    out
}

/// The `txt` form of a message, ending with a blank line.
pub fn txt(msg: &Message) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Timestamp: {}", timestamp(msg.timestamp));
    let _ = writeln!(out, "Type: {}", lossy(msg.r#type()));
    let _ = writeln!(out, "Hostname: {}", lossy(msg.hostname()));
    let _ = writeln!(out, "Pid: {}", msg.pid());
    let _ = writeln!(out, "UUID: {}", msg.uuid_string());
    let _ = writeln!(out, "Logger: {}", lossy(msg.logger()));
    let _ = writeln!(out, "Payload: {}", lossy(msg.payload()));
    let _ = writeln!(out, "EnvVersion: {}", lossy(msg.env_version()));
    let _ = writeln!(out, "Severity: {}", msg.severity());
    out.push_str("Fields:\n");
    for f in &msg.fields {
        let _ = writeln!(out, "    {}", field_text(f));
    }
    out.push('\n');
    out
}

fn text_value(bytes: &[u8]) -> Value {
    Value::String(lossy(bytes).into_owned())
}

fn field_json(f: &Field) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), text_value(&f.name));
    if let Some(t) = f.value_type {
        o.insert("value_type".into(), json!(t));
    }
    if let Some(r) = &f.representation {
        o.insert("representation".into(), text_value(r));
    }
    let mut list = |key: &str, values: Vec<Value>| {
        if !values.is_empty() {
            o.insert(key.into(), Value::Array(values));
        }
    };
    list(
        "value_string",
        f.value_string.iter().map(|s| text_value(s)).collect(),
    );
    list(
        "value_bytes",
        f.value_bytes.iter().map(|b| json!(base64(b))).collect(),
    );
    list(
        "value_integer",
        f.value_integer.iter().map(|i| json!(i)).collect(),
    );
    list(
        "value_double",
        f.value_double.iter().map(|d| json!(d)).collect(),
    );
    list(
        "value_bool",
        f.value_bool.iter().map(|b| json!(b)).collect(),
    );
    Value::Object(o)
}

/// The `json` form of a message, one line without the newline.
pub fn json(msg: &Message) -> String {
    let mut o = Map::new();
    if !msg.uuid.is_empty() {
        o.insert("uuid".into(), json!(base64(&msg.uuid)));
    }
    o.insert("timestamp".into(), json!(msg.timestamp));
    let headers = [
        ("type", &msg.r#type),
        ("logger", &msg.logger),
        ("payload", &msg.payload),
        ("env_version", &msg.env_version),
        ("hostname", &msg.hostname),
    ];
    for (key, value) in headers {
        if let Some(v) = value {
            o.insert(key.into(), text_value(v));
        }
    }
    if let Some(s) = msg.severity {
        o.insert("severity".into(), json!(s));
    }
    if let Some(p) = msg.pid {
        o.insert("pid".into(), json!(p));
    }
    if !msg.fields.is_empty() {
        o.insert(
            "fields".into(),
            msg.fields.iter().map(field_json).collect::<Vec<_>>().into(),
        );
    }
    Value::Object(o).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_like_go_in_utc() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            timestamp(1_400_000_000_000_000_000),
            "2014-05-13 16:53:20 +0000 UTC"
        );
        assert_eq!(
            timestamp(1_136_214_245_123_400_000),
            "2006-01-02 15:04:05.1234 +0000 UTC"
        );
        assert_eq!(timestamp(-1), "1969-12-31 23:59:59.999999999 +0000 UTC");
        assert_eq!(
            timestamp(951_782_400 * 1_000_000_000),
            "2000-02-29 00:00:00 +0000 UTC"
        );
    }

    #[test]
    fn base64_follows_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn fields_print_in_protobuf_text_form() {
        assert_eq!(
            field_text(&Field::integers("n", [1, 2]).with_representation("count")),
            r#"name:"n" value_type:INTEGER representation:"count" value_integer:1 value_integer:2"#
        );
        assert_eq!(
            field_text(&Field::string("s", b"a\"b\\\n\xff\xc3\xa9")),
            r#"name:"s" value_type:STRING value_string:"a\"b\\\n\377é""#
        );
    }
}
