//! RstEncoder: the debugging encoder. Paired with LogOutput (or a
//! FileOutput) it dumps every matched message, all headers and every field,
//! as a reStructuredText field list, one block per message.

use std::fmt::Write as _;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::Pack;
use heka_actors::plugin::{BuildError, Encoder, PluginError};
use heka_proto::{Field, ValueType};
use serde::Deserialize;

use super::options;
use crate::render;

/// `[name] type = "RstEncoder"` options: none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RstEncoderConfig {}

/// Heka's RstEncoder. Each message becomes:
///
/// ```text
/// :Timestamp: 2013-07-01 17:44:37.512993 +0000 UTC
/// :Type: TEST
/// :Hostname: web1
/// :Pid: 123
/// :Uuid: 07070707-0707-4707-8707-070707070707
/// :Logger: GoSpec
/// :Payload: Test Payload
/// :EnvVersion: 0.8
/// :Severity: 6
/// :Fields:
///     | name:"foo" type:string value:"bar"
///     | name:"sizes" type:integer representation:"B" value:[1,2]
///
/// ```
///
/// Headers are written as they are (the payload may span lines, as in
/// Heka); field names and string or bytes values are quoted with escapes
/// so binary data stays on its line. A field with several values shows
/// them as a list. The timestamp is Go's `time.Time` text, in UTC.
#[derive(Debug, Clone, Default)]
pub struct RstEncoder {
    /// Reused for the field lines.
    text: String,
}

impl RstEncoder {
    /// Builds the encoder `spec` describes.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Encoder>, BuildError> {
        let RstEncoderConfig {} = options(spec)?;
        Ok(Box::new(RstEncoder::default()))
    }
}

impl Encoder for RstEncoder {
    fn encode(&mut self, pack: &Pack, out: &mut Vec<u8>) -> Result<(), PluginError> {
        let m = &pack.message;
        let uuid = m.uuid_text();
        let uuid: &[u8] = uuid.as_ref().map_or(b"", |u| &u[..]);
        let timestamp = render::timestamp(m.timestamp());
        let pid = m.pid().to_string();
        let severity = m.severity().to_string();
        let headers: [(&str, &[u8]); 9] = [
            ("Timestamp", timestamp.as_bytes()),
            ("Type", m.r#type()),
            ("Hostname", m.hostname()),
            ("Pid", pid.as_bytes()),
            ("Uuid", uuid),
            ("Logger", m.logger()),
            ("Payload", m.payload()),
            ("EnvVersion", m.env_version()),
            ("Severity", severity.as_bytes()),
        ];
        for (name, value) in headers {
            out.push(b':');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.push(b'\n');
        }
        out.extend_from_slice(b":Fields:\n");
        for field in m.fields() {
            self.text.clear();
            field_line(&mut self.text, &field.to_field());
            out.extend_from_slice(self.text.as_bytes());
        }
        out.push(b'\n');
        Ok(())
    }
}

/// Appends `    | name:"…" type:… value:…\n` for one field.
fn field_line(out: &mut String, field: &Field) {
    out.push_str("    | name:");
    render::quoted(out, &field.name);
    let kind = field.kind();
    match kind {
        Some(ValueType::String) => out.push_str(" type:string"),
        Some(ValueType::Bytes) => out.push_str(" type:bytes"),
        Some(ValueType::Integer) => out.push_str(" type:integer"),
        Some(ValueType::Double) => out.push_str(" type:double"),
        Some(ValueType::Bool) => out.push_str(" type:bool"),
        None => {
            let _ = write!(out, " type:{}", field.value_type.unwrap_or_default());
        }
    }
    if let Some(rep) = &field.representation {
        out.push_str(" representation:");
        render::quoted(out, rep);
    }
    out.push_str(" value:");
    let mut values: Vec<String> = Vec::new();
    match kind {
        Some(ValueType::String) => values.extend(field.value_string.iter().map(|s| quote(s))),
        Some(ValueType::Bytes) => values.extend(field.value_bytes.iter().map(|b| quote(b))),
        Some(ValueType::Integer) => values.extend(field.value_integer.iter().map(i64::to_string)),
        Some(ValueType::Double) => values.extend(field.value_double.iter().map(f64::to_string)),
        Some(ValueType::Bool) => values.extend(field.value_bool.iter().map(bool::to_string)),
        None => {}
    }
    match values.as_slice() {
        [one] => out.push_str(one),
        many => {
            out.push('[');
            out.push_str(&many.join(","));
            out.push(']');
        }
    }
    out.push('\n');
}

fn quote(bytes: &[u8]) -> String {
    let mut s = String::new();
    render::quoted(&mut s, bytes);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use heka_proto::{Message, MessageView};

    fn sample() -> Message {
        let mut uuid = [7; 16];
        uuid[6] = 0x47;
        uuid[8] = 0x87;
        let mut m = Message::new(uuid, 1_372_700_677_512_993_000);
        m.r#type = Some(Bytes::from_static(b"TEST"));
        m.hostname = Some(Bytes::from_static(b"web1"));
        m.pid = Some(123);
        m.logger = Some(Bytes::from_static(b"GoSpec"));
        m.payload = Some(Bytes::from_static(b"Test Payload"));
        m.env_version = Some(Bytes::from_static(b"0.8"));
        m.severity = Some(6);
        m.fields = vec![
            Field::string("foo", "bar"),
            Field::integers("sizes", [1, 2]).with_representation("B"),
            Field::bytes("blob", b"\x00\xff\n"),
            Field::double("ratio", 0.5),
            Field::boolean("ok", true),
            Field::string("foo", "second \"foo\""),
        ];
        m
    }

    fn encode(msg: &Message) -> String {
        let mut e = RstEncoder::build(
            &PluginSpec::new("rst", "RstEncoder").unwrap(),
            &Globals::default(),
        )
        .unwrap();
        let mut out = Vec::new();
        e.encode(
            &Pack::detached(MessageView::from_message(msg).unwrap()),
            &mut out,
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_header_and_field_is_listed() {
        let want = r#":Timestamp: 2013-07-01 17:44:37.512993 +0000 UTC
:Type: TEST
:Hostname: web1
:Pid: 123
:Uuid: 07070707-0707-4707-8707-070707070707
:Logger: GoSpec
:Payload: Test Payload
:EnvVersion: 0.8
:Severity: 6
:Fields:
    | name:"foo" type:string value:"bar"
    | name:"sizes" type:integer representation:"B" value:[1,2]
    | name:"blob" type:bytes value:"\000\377\n"
    | name:"ratio" type:double value:0.5
    | name:"ok" type:bool value:true
    | name:"foo" type:string value:"second \"foo\""

"#;
        assert_eq!(encode(&sample()), want);
    }

    #[test]
    fn unset_headers_show_defaults_and_odd_fields_stay_on_one_line() {
        let mut m = Message {
            uuid: Bytes::from_static(b"short"),
            ..Message::default()
        };
        let mut odd = Field::string("empty", "");
        odd.value_string.clear();
        let mut unknown = Field::integer("future", 1);
        unknown.value_type = Some(9);
        m.fields = vec![odd, unknown];
        let text = encode(&m);
        assert!(text.starts_with(":Timestamp: 1970-01-01 00:00:00 +0000 UTC\n:Type: \n"));
        assert!(text.contains("\n:Pid: 0\n:Uuid: \n"), "{text}");
        assert!(text.contains("\n:Severity: 7\n"), "{text}");
        assert!(
            text.ends_with(
                ":Fields:\n    | name:\"empty\" type:string value:[]\n    | name:\"future\" type:9 value:[]\n\n"
            ),
            "{text}"
        );
        assert!(
            RstEncoder::build(
                &{
                    let mut s = PluginSpec::new("rst", "RstEncoder").unwrap();
                    s.options = "x = 1".parse().unwrap();
                    s
                },
                &Globals::default()
            )
            .is_err()
        );
    }
}
