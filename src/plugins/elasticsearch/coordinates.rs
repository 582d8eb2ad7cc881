//! Where a document goes: the bulk API action line both ElasticSearch
//! encoders write before each document, `{"index":{"_index":…,"_type":…}}`
//! (plus `"_id"` when `id` is set), with `%{…}` interpolation in `index`,
//! `type_name` and `id`.
//!
//! `%{name}` is replaced by, in this order:
//! - a header: `Type`, `Hostname`, `Pid`, `UUID` (or `Uuid`), `Logger`,
//!   `EnvVersion`, `Severity`;
//! - the first value of the message's field `name` (numbers and booleans
//!   as text, doubles in Go's `%g` form);
//! - the time formatted by strftime with `name` as the pattern
//!   (`%{%Y.%m.%d}`), in UTC: the message's timestamp with
//!   `es_index_from_timestamp = true`, the current time otherwise.
//!
//! A name that is none of these and holds no `%` is written as itself in
//! `index` and `type_name` (Heka handed it to strftime, which returned it
//! unchanged: kept for compatibility). In `id` it leaves the document
//! without `_id` (ElasticSearch generates one) instead of sending every
//! such message to one document named after the missing field. An `id`
//! that comes out empty is left out too. An empty `type_name` leaves
//! `_type` out (ElasticSearch 7 deprecated types and 8 refuses them; Heka
//! always wrote one).

use heka_proto::{FieldValue, MessageView};

use super::json;
use crate::strftime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    Type,
    Hostname,
    Pid,
    Uuid,
    Logger,
    EnvVersion,
    Severity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Header(Header),
    /// A field name or a strftime pattern.
    Name(String),
}

/// A text with `%{…}` references, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`; an unclosed `%{` is literal text.
    pub fn new(text: &str) -> Template {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("%{") {
            let Some(len) = rest[start + 2..].find('}') else {
                break;
            };
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let name = &rest[start + 2..start + 2 + len];
            parts.push(match name {
                "Type" => Part::Header(Header::Type),
                "Hostname" => Part::Header(Header::Hostname),
                "Pid" => Part::Header(Header::Pid),
                "UUID" | "Uuid" => Part::Header(Header::Uuid),
                "Logger" => Part::Header(Header::Logger),
                "EnvVersion" => Part::Header(Header::EnvVersion),
                "Severity" => Part::Header(Header::Severity),
                _ => Part::Name(name.to_owned()),
            });
            rest = &rest[start + 2 + len + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Template { parts }
    }

    /// Appends the text for `msg` at time `ns`; false when a name matched
    /// nothing (it was written as itself).
    pub fn render(&self, msg: &MessageView, ns: i64, out: &mut String) -> bool {
        let mut resolved = true;
        let lossy = |bytes: &[u8], out: &mut String| out.push_str(&String::from_utf8_lossy(bytes));
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Header(Header::Type) => lossy(msg.r#type(), out),
                Part::Header(Header::Hostname) => lossy(msg.hostname(), out),
                Part::Header(Header::Logger) => lossy(msg.logger(), out),
                Part::Header(Header::EnvVersion) => lossy(msg.env_version(), out),
                Part::Header(Header::Pid) => out.push_str(&msg.pid().to_string()),
                Part::Header(Header::Severity) => out.push_str(&msg.severity().to_string()),
                Part::Header(Header::Uuid) => {
                    if let Some(text) = msg.uuid_text() {
                        lossy(&text, out);
                    }
                }
                Part::Name(name) => match msg.field_value(name.as_bytes(), 0, 0) {
                    Some(value) => value_text(value, out),
                    None if name.contains('%') => out.push_str(&strftime::format(name, ns)),
                    None => {
                        out.push_str(name);
                        resolved = false;
                    }
                },
            }
        }
        resolved
    }
}

/// A field value as interpolated text.
fn value_text(value: FieldValue<'_>, out: &mut String) {
    match value {
        FieldValue::String(b) | FieldValue::Bytes(b) => out.push_str(&String::from_utf8_lossy(b)),
        FieldValue::Integer(i) => out.push_str(&i.to_string()),
        FieldValue::Double(d) => out.push_str(&json::go_g(d)),
        FieldValue::Bool(b) => out.push_str(if b { "true" } else { "false" }),
    }
}

/// An encoder's `index`, `type_name`, `id` and `es_index_from_timestamp`.
#[derive(Debug, Clone)]
pub struct Coordinates {
    index: Template,
    type_name: Template,
    id: Option<Template>,
    from_timestamp: bool,
    scratch: String,
}

impl Coordinates {
    /// Coordinates from the encoder's options (`id` empty: none).
    pub fn new(index: &str, type_name: &str, id: &str, from_timestamp: bool) -> Coordinates {
        Coordinates {
            index: Template::new(index),
            type_name: Template::new(type_name),
            id: (!id.is_empty()).then(|| Template::new(id)),
            from_timestamp,
            scratch: String::new(),
        }
    }

    /// The interpolated type name (ESLogstashV0Encoder's `@type`).
    pub fn type_name(&mut self, msg: &MessageView, now_ns: i64) -> String {
        let mut out = String::new();
        let ns = self.time(msg, now_ns);
        self.type_name.render(msg, ns, &mut out);
        out
    }

    fn time(&self, msg: &MessageView, now_ns: i64) -> i64 {
        if self.from_timestamp {
            msg.timestamp()
        } else {
            now_ns
        }
    }

    /// Appends the action line, newline included.
    pub fn write_action(&mut self, msg: &MessageView, now_ns: i64, out: &mut Vec<u8>) {
        let ns = self.time(msg, now_ns);
        out.extend_from_slice(br#"{"index":{"#);
        let mut first = true;
        self.scratch.clear();
        self.index.render(msg, ns, &mut self.scratch);
        json::key(out, &mut first, b"_index");
        json::quote(out, self.scratch.as_bytes());
        self.scratch.clear();
        self.type_name.render(msg, ns, &mut self.scratch);
        if !self.scratch.is_empty() {
            json::key(out, &mut first, b"_type");
            json::quote(out, self.scratch.as_bytes());
        }
        if let Some(id) = &self.id {
            self.scratch.clear();
            if id.render(msg, ns, &mut self.scratch) && !self.scratch.is_empty() {
                json::key(out, &mut first, b"_id");
                json::quote(out, self.scratch.as_bytes());
            }
        }
        out.extend_from_slice(b"}}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heka_proto::{Field, Message};

    // 2013-07-01 17:44:37.5 UTC.
    const T: i64 = 1_372_700_677_500_000_000;
    // 2020-02-03 UTC.
    const NOW: i64 = 1_580_688_000_000_000_000;

    fn msg() -> MessageView {
        let mut m = Message::new([0x11; 16], T);
        m.r#type = Some("web.log".into());
        m.hostname = Some("box".into());
        m.logger = Some("nginx".into());
        m.pid = Some(42);
        m.severity = Some(3);
        m.fields.push(Field::string("service", "api"));
        m.fields.push(Field::integer("shard", 7));
        m.fields.push(Field::double("ratio", 0.5));
        m.fields.push(Field::string("docid", "doc-1"));
        MessageView::from_message(&m).unwrap()
    }

    fn render(template: &str, ns: i64) -> (String, bool) {
        let mut out = String::new();
        let ok = Template::new(template).render(&msg(), ns, &mut out);
        (out, ok)
    }

    #[test]
    fn interpolates_headers_fields_and_time() {
        assert_eq!(render("heka-%{%Y.%m.%d}", T).0, "heka-2013.07.01");
        assert_eq!(
            render("%{Hostname}-%{Logger}-%{Type}-%{Pid}-%{Severity}", T).0,
            "box-nginx-web.log-42-3"
        );
        assert_eq!(
            render("%{UUID}", T).0,
            "11111111-1111-1111-1111-111111111111"
        );
        assert_eq!(render("%{service}/%{shard}/%{ratio}", T).0, "api/7/0.5");
        assert_eq!(render("a%{b", T).0, "a%{b");
        assert_eq!(render("x-%{missing}", T), ("x-missing".into(), false));
    }

    fn action(c: &mut Coordinates) -> serde_json::Value {
        let mut out = Vec::new();
        c.write_action(&msg(), NOW, &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn action_lines_name_index_type_and_id() {
        let mut c = Coordinates::new("heka-%{%Y.%m.%d}", "message", "", false);
        assert_eq!(
            action(&mut c),
            serde_json::json!({"index": {"_index": "heka-2020.02.03", "_type": "message"}})
        );
        let mut c = Coordinates::new("heka-%{%Y.%m.%d}", "%{Type}", "%{docid}", true);
        assert_eq!(
            action(&mut c),
            serde_json::json!({"index": {"_index": "heka-2013.07.01", "_type": "web.log", "_id": "doc-1"}})
        );
        // A missing id field: no _id rather than one shared document.
        let mut c = Coordinates::new("i", "", "%{nothere}", false);
        assert_eq!(
            action(&mut c),
            serde_json::json!({"index": {"_index": "i"}})
        );
    }
}
