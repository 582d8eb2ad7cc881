//! Heka's `[name.message_fields]` tables, shared by PayloadRegexDecoder and
//! ScribbleDecoder: each key names a message header (`Type`, `Logger`,
//! `Hostname`, `Payload`, `EnvVersion`, `Pid`, `Severity`, `Uuid`,
//! `Timestamp`) or a field (`name` or `name|representation`; a header name
//! with a representation is a field too). String values are templates:
//! `%name%` is replaced by the regex capture of that name, else by the
//! message header of that name; an unknown name stays as written and a
//! capture that took no part in the match is empty. Integer, float and
//! boolean values make typed fields. Templates are compiled once.

use heka_proto::{FieldHead, MessageView};

pub use patch::Patch;
use patch::Text;

mod patch;

use crate::golayout::Layout;

/// A header a template or a key can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// `Type`.
    Type,
    /// `Logger`.
    Logger,
    /// `Hostname`.
    Hostname,
    /// `Payload`.
    Payload,
    /// `EnvVersion`.
    EnvVersion,
    /// `Pid`.
    Pid,
    /// `Severity`.
    Severity,
    /// `Uuid`.
    Uuid,
    /// `Timestamp`.
    Timestamp,
}

impl Header {
    /// The header called `name`.
    pub fn named(name: &str) -> Option<Header> {
        Some(match name {
            "Type" => Header::Type,
            "Logger" => Header::Logger,
            "Hostname" => Header::Hostname,
            "Payload" => Header::Payload,
            "EnvVersion" => Header::EnvVersion,
            "Pid" => Header::Pid,
            "Severity" => Header::Severity,
            "Uuid" => Header::Uuid,
            "Timestamp" => Header::Timestamp,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Capture(usize),
    Header(Header),
}

/// A compiled string template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Part>);

impl Template {
    /// Compiles `text`; `capture` maps a capture name to its group index.
    pub fn new(text: &str, capture: &dyn Fn(&str) -> Option<usize>) -> Template {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            let after = &rest[start + 1..];
            let name_len = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let closed = after[name_len..].starts_with('%') && name_len > 0;
            let name = &after[..name_len];
            let part = closed
                .then(|| {
                    capture(name)
                        .map(Part::Capture)
                        .or_else(|| Header::named(name).map(Part::Header))
                })
                .flatten();
            match part {
                Some(part) => {
                    literal.push_str(&rest[..start]);
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(part);
                    rest = &after[name_len + 1..];
                }
                None => {
                    literal.push_str(&rest[..=start]);
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Template(parts)
    }

    /// Appends the template's text for `msg` and the captures (`caps`
    /// gives a group's place in `payload`) to `out`.
    pub fn render(
        &self,
        msg: Option<&MessageView>,
        payload: &[u8],
        caps: &dyn Fn(usize) -> Option<(usize, usize)>,
        out: &mut Vec<u8>,
    ) {
        for part in &self.0 {
            match part {
                Part::Text(t) => out.extend_from_slice(t.as_bytes()),
                Part::Capture(i) => {
                    if let Some((start, end)) = caps(*i) {
                        out.extend_from_slice(&payload[start..end]);
                    }
                }
                Part::Header(h) => {
                    if let Some(msg) = msg {
                        header_text(msg, *h, out)
                    }
                }
            }
        }
    }
}

impl Template {
    /// Where the text is when the template is one capture and nothing else
    /// (`'%status%'`, the common case): then it needs no copy.
    fn text(
        &self,
        msg: Option<&MessageView>,
        payload: &[u8],
        caps: &dyn Fn(usize) -> Option<(usize, usize)>,
        scratch: &mut Vec<u8>,
    ) -> Text {
        if let [Part::Capture(i)] = self.0[..] {
            let (start, end) = caps(i).unwrap_or((0, 0));
            return Text::payload(start, end);
        }
        let start = scratch.len();
        self.render(msg, payload, caps, scratch);
        Text::scratch(start, scratch.len())
    }
}

fn header_text(msg: &MessageView, header: Header, out: &mut Vec<u8>) {
    match header {
        Header::Type => out.extend_from_slice(msg.r#type()),
        Header::Logger => out.extend_from_slice(msg.logger()),
        Header::Hostname => out.extend_from_slice(msg.hostname()),
        Header::Payload => out.extend_from_slice(msg.payload()),
        Header::EnvVersion => out.extend_from_slice(msg.env_version()),
        Header::Pid => out.extend_from_slice(msg.pid().to_string().as_bytes()),
        Header::Severity => out.extend_from_slice(msg.severity().to_string().as_bytes()),
        Header::Uuid => {
            if let Some(t) = msg.uuid_text() {
                out.extend_from_slice(&t);
            }
        }
        Header::Timestamp => out.extend_from_slice(msg.timestamp().to_string().as_bytes()),
    }
}

/// What one `message_fields` entry writes.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(Template),
    Integer(i64),
    Double(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Target {
    Header(Header),
    /// A field: its head, in [`MessageFields::heads`].
    Field(usize),
}

/// A compiled `message_fields` table.
#[derive(Debug, Clone, Default)]
pub struct MessageFields {
    entries: Vec<(Target, Value)>,
    heads: Vec<FieldHead>,
}

/// Why an entry cannot be applied to a message.
pub type FieldError = String;

impl MessageFields {
    /// Compiles a `[name.message_fields]` table.
    pub fn new(
        table: &toml::Table,
        capture: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<MessageFields, String> {
        let mut entries = Vec::new();
        let mut heads = Vec::new();
        for (key, value) in table {
            let mut field = |name: &str, rep: &str| {
                heads.push(FieldHead::new(name.as_bytes(), rep.as_bytes()));
                Target::Field(heads.len() - 1)
            };
            let target = match key.split_once('|') {
                None => match Header::named(key) {
                    Some(h) => Target::Header(h),
                    None => field(key, ""),
                },
                Some((name, rep)) => field(name, rep),
            };
            let value = match value {
                toml::Value::String(s) => Value::Text(Template::new(s, capture)),
                toml::Value::Integer(i) => Value::Integer(*i),
                toml::Value::Float(f) => Value::Double(*f),
                toml::Value::Boolean(b) => Value::Bool(*b),
                other => {
                    return Err(format!(
                        "message_fields.{key}: a {} is not a field value",
                        other.type_str()
                    ));
                }
            };
            entries.push((target, value));
        }
        Ok(MessageFields { entries, heads })
    }

    /// The heads of the fields the table adds, which [`Patch::apply`] and
    /// [`Patch::apply_text`] write with.
    pub fn heads(&self) -> &[FieldHead] {
        &self.heads
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when a template reads the message's headers (`%Hostname%`):
    /// then a text record must be made a message before the patch.
    pub fn needs_message(&self) -> bool {
        self.entries.iter().any(|(_, value)| match value {
            Value::Text(t) => t.0.iter().any(|part| matches!(part, Part::Header(_))),
            _ => false,
        })
    }

    /// Applies every entry to `patch` (for `view`, which templates reading
    /// headers need; see [`MessageFields::needs_message`]): `payload` is
    /// the record's payload and `caps` gives a capture's place in it;
    /// `layout` reads a `Timestamp` header, `severity` maps a `Severity`
    /// text.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &self,
        view: Option<&MessageView>,
        payload: &[u8],
        caps: &dyn Fn(usize) -> Option<(usize, usize)>,
        layout: &Layout,
        severity: &dyn Fn(&[u8]) -> Option<i32>,
        now_ns: i64,
        patch: &mut Patch,
    ) -> Result<(), FieldError> {
        for (target, value) in &self.entries {
            let value = match value {
                Value::Text(t) => {
                    patch::Value::Text(t.text(view, payload, caps, &mut patch.scratch))
                }
                Value::Integer(i) => patch::Value::Integer(*i),
                Value::Double(d) => patch::Value::Double(*d),
                Value::Bool(b) => patch::Value::Bool(*b),
            };
            match target {
                Target::Header(h) => {
                    set_header(patch, *h, value, payload, layout, severity, now_ns)?
                }
                Target::Field(head) => patch.fields.push((*head, value)),
            }
        }
        Ok(())
    }
}

fn number<T: std::str::FromStr>(header: &str, text: &[u8]) -> Result<T, FieldError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| {
            format!(
                "{header}: {:?} is not a number",
                String::from_utf8_lossy(text)
            )
        })
}

fn set_header(
    patch: &mut Patch,
    header: Header,
    value: patch::Value,
    payload: &[u8],
    layout: &Layout,
    severity: &dyn Fn(&[u8]) -> Option<i32>,
    now_ns: i64,
) -> Result<(), FieldError> {
    let text = match &value {
        patch::Value::Text(t) => Some(*t),
        _ => None,
    };
    let bytes = |patch: &Patch| match &text {
        Some(t) => patch.text(t, payload).to_vec(),
        None => Vec::new(),
    };
    let int = |patch: &Patch, name: &str| -> Result<i64, FieldError> {
        match &value {
            patch::Value::Integer(i) => Ok(*i),
            patch::Value::Text(t) => number(name, patch.text(t, payload)),
            _ => Err(format!("{name} must be a number")),
        }
    };
    match header {
        Header::Type => patch.r#type = text,
        Header::Logger => patch.logger = text,
        Header::Hostname => patch.hostname = text,
        Header::Payload => patch.payload = text,
        Header::EnvVersion => patch.env_version = text,
        Header::Pid => patch.pid = Some(int(patch, "Pid")? as i32),
        Header::Severity => {
            let mapped = text.as_ref().and_then(|t| severity(patch.text(t, payload)));
            patch.severity = Some(match mapped {
                Some(s) => s,
                None => int(patch, "Severity")? as i32,
            })
        }
        Header::Uuid => {
            let text = bytes(patch);
            let uuid = parse_uuid(&text).ok_or_else(|| {
                format!("Uuid: {:?} is not a UUID", String::from_utf8_lossy(&text))
            })?;
            patch.uuid = Some(uuid);
        }
        Header::Timestamp => {
            patch.timestamp = Some(match &value {
                patch::Value::Integer(i) => *i,
                _ => layout
                    .parse(&bytes(patch), now_ns)
                    .map_err(|e| e.to_string())?,
            })
        }
    }
    Ok(())
}

/// A UUID in its 36-character text form.
fn parse_uuid(text: &[u8]) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.iter().copied().filter(|b| *b != b'-').collect();
    if hex.len() != 32 || text.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use bytes::Bytes;
    use heka_proto::prost::Message as _;
    use heka_proto::{FieldValue, Message};

    fn view() -> MessageView {
        with_payload(b"the line")
    }

    fn with_payload(payload: &'static [u8]) -> MessageView {
        let mut m = Message::new([0x11; 16], 5);
        m.r#type = Some(Bytes::from_static(b"logfile"));
        m.payload = Some(Bytes::from_static(payload));
        MessageView::from_message(&m).unwrap()
    }

    #[test]
    fn templates_mix_captures_headers_and_text() {
        let capture = |n: &str| (n == "status").then_some(1);
        let t = Template::new("%Type%-%status% 100% %nope% %% %status", &capture);
        let mut out = Vec::new();
        let caps = |i: usize| (i == 1).then_some((4, 7));
        t.render(Some(&view()), b"GET 200", &caps, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "logfile-200 100% %nope% %% %status"
        );
    }

    #[test]
    fn entries_set_headers_and_typed_fields() {
        let table: toml::Table = toml::from_str(
            "Type = 'nginx.%Type%'\nSeverity = '%sev%'\nPid = 42\nTimestamp = '%ts%'\n\
             'bytes|B' = '%size%'\ncount = 3\nratio = 0.5\nok = true\n'Payload|json' = '{}'\n\
             Uuid = '01234567-89ab-cdef-0123-456789abcdef'\n",
        )
        .unwrap();
        let names = ["", "sev", "ts", "size"];
        let capture = |n: &str| names.iter().position(|x| *x == n);
        let fields = MessageFields::new(&table, &capture).unwrap();
        // The payload the captures are places in.
        let payload = b"warn2024-01-01T00:00:01Z512";
        let places = [(0, 0), (0, 4), (4, 24), (24, 27)];
        let caps = |i: usize| places.get(i).copied();
        let layout = Layout::new("2006-01-02T15:04:05Z07:00", "UTC").unwrap();
        let severity = |t: &[u8]| (t == b"warn").then_some(4);
        let v = with_payload(payload);
        let mut patch = Patch::default();
        fields
            .apply(Some(&v), payload, &caps, &layout, &severity, 0, &mut patch)
            .unwrap();
        // Read back through prost, an independent decoder.
        let patched = patch.apply(&v, fields.heads()).unwrap();
        let m = Message::decode(patched.raw().clone()).unwrap();
        assert_eq!(m.r#type.as_deref(), Some(&b"nginx.logfile"[..]));
        assert_eq!(m.severity, Some(4));
        assert_eq!(m.pid, Some(42));
        assert_eq!(m.timestamp, 1_704_067_201_000_000_000);
        assert_eq!(m.uuid[..2], [0x01, 0x23]);
        assert_eq!(
            m.payload.as_deref(),
            Some(&payload[..]),
            "Payload|json is a field"
        );
        let field = |n: &str| m.fields.iter().find(|f| f.name == n.as_bytes()).unwrap();
        assert_eq!(field("bytes").value(0), Some(FieldValue::String(b"512")));
        assert_eq!(field("bytes").representation.as_deref(), Some(&b"B"[..]));
        assert_eq!(field("count").value_integer, [3]);
        assert_eq!(field("ratio").value_double, [0.5]);
        assert_eq!(field("ok").value_bool, [true]);
        assert_eq!(
            field("Payload").representation.as_deref(),
            Some(&b"json"[..])
        );
    }

    #[test]
    fn bad_values_name_the_header() {
        let capture = |_: &str| Some(1);
        let layout = Layout::new("2006", "UTC").unwrap();
        let none = |_: &[u8]| None;
        let v = view();
        for (entry, text) in [
            ("Pid = '%x%'", "Pid"),
            ("Timestamp = '%x%'", "2006"),
            ("Uuid = '%x%'", "Uuid"),
        ] {
            let table: toml::Table = toml::from_str(entry).unwrap();
            let fields = MessageFields::new(&table, &capture).unwrap();
            let caps = |_: usize| Some((0, 2));
            let mut patch = Patch::default();
            let err = fields
                .apply(Some(&v), b"zz", &caps, &layout, &none, 0, &mut patch)
                .unwrap_err();
            assert!(err.contains(text), "{err}");
        }
        let table: toml::Table = toml::from_str("x = [1]").unwrap();
        let err = MessageFields::new(&table, &capture).unwrap_err();
        assert!(err.contains("message_fields.x"), "{err}");
    }
}
