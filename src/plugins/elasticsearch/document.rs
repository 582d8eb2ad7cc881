//! The document line of a bulk pair: one flat JSON object per message,
//! written by both ElasticSearch encoders from their `fields` list (which
//! headers, in which order) and their names for them (ESJsonEncoder's
//! `field_mappings`, ESLogstashV0Encoder's fixed `@` names).
//!
//! Values: strings and the uuid as JSON strings, severity and pid as
//! numbers, the timestamp in the `timestamp` Go layout (UTC). Dynamic
//! fields keep their names and types; a field with one value is a scalar,
//! with several (or none) an array; BYTES are base64 strings, except the
//! fields named in `raw_bytes_fields`, whose values (STRING or BYTES) are
//! written as they are, for fields that already hold JSON. A raw value
//! that is not valid JSON is written as a string instead: one bad field
//! must not make ElasticSearch refuse the whole bulk request.

use heka_proto::{FieldValue, FieldView, MessageView};

use super::json;
use crate::golayout::format::GoLayout;

/// One entry of an encoder's `fields` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The uuid, hyphenated.
    Uuid,
    /// The timestamp, in the `timestamp` layout.
    Timestamp,
    /// The type.
    Type,
    /// The logger.
    Logger,
    /// The severity (number).
    Severity,
    /// The payload.
    Payload,
    /// The envelope version.
    EnvVersion,
    /// The pid (number).
    Pid,
    /// The hostname.
    Hostname,
    /// Every dynamic field (or those `dynamic_fields` lists).
    DynamicFields,
}

/// Heka's default `fields` list.
pub const DEFAULT_FIELDS: [&str; 10] = [
    "Uuid",
    "Timestamp",
    "Type",
    "Logger",
    "Severity",
    "Payload",
    "EnvVersion",
    "Pid",
    "Hostname",
    "DynamicFields",
];

/// Heka's default `timestamp` layout.
pub const DEFAULT_TIMESTAMP: &str = "2006-01-02T15:04:05.000Z";

impl Column {
    /// Parses a `fields` entry (any case, as Heka compared them).
    pub fn parse(name: &str) -> Option<Column> {
        Some(match name.to_ascii_lowercase().as_str() {
            "uuid" => Column::Uuid,
            "timestamp" => Column::Timestamp,
            "type" => Column::Type,
            "logger" => Column::Logger,
            "severity" => Column::Severity,
            "payload" => Column::Payload,
            "envversion" => Column::EnvVersion,
            "pid" => Column::Pid,
            "hostname" => Column::Hostname,
            "dynamicfields" => Column::DynamicFields,
            _ => return None,
        })
    }

    /// Parses a whole `fields` list; the first unknown name is the error.
    pub fn parse_list(names: &[String]) -> Result<Vec<Column>, String> {
        names
            .iter()
            .map(|n| Column::parse(n).ok_or_else(|| format!("unknown field {n:?}")))
            .collect()
    }
}

/// The JSON names of the header columns, in [`Column`] order (without
/// DynamicFields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Uuid, Timestamp, Type, Logger, Severity, Payload, EnvVersion, Pid,
    /// Hostname.
    pub headers: [String; 9],
    /// `Some("@fields")`: dynamic fields go in a nested object of that
    /// name; `None`: they sit beside the headers.
    pub nested: Option<&'static str>,
}

/// Writes document lines.
#[derive(Debug, Clone)]
pub struct Document {
    /// Which columns, in order.
    pub columns: Vec<Column>,
    /// Their names.
    pub names: Names,
    /// The timestamp layout.
    pub layout: GoLayout,
    /// Only these dynamic fields (all when empty).
    pub dynamic_fields: Vec<String>,
    /// Fields written as raw JSON.
    pub raw_bytes_fields: Vec<String>,
}

impl Document {
    /// Appends the document for `msg`, newline included; `type_value` is
    /// what the Type column holds.
    pub fn write(&self, msg: &MessageView, type_value: &[u8], out: &mut Vec<u8>) {
        let mut first = true;
        let mut text = String::new();
        out.push(b'{');
        for column in &self.columns {
            let index = *column as usize;
            if *column == Column::DynamicFields {
                self.write_fields(msg, &mut first, out);
                continue;
            }
            json::key(out, &mut first, self.names.headers[index].as_bytes());
            match column {
                Column::Uuid => {
                    let uuid = msg.uuid_text();
                    json::quote(out, uuid.as_ref().map_or(&b""[..], |u| &u[..]));
                }
                Column::Timestamp => {
                    text.clear();
                    self.layout.format_into(&mut text, msg.timestamp());
                    json::quote(out, text.as_bytes());
                }
                Column::Type => json::quote(out, type_value),
                Column::Logger => json::quote(out, msg.logger()),
                Column::Severity => json::integer(out, i64::from(msg.severity())),
                Column::Payload => json::quote(out, msg.payload()),
                Column::EnvVersion => json::quote(out, msg.env_version()),
                Column::Pid => json::integer(out, i64::from(msg.pid())),
                Column::Hostname => json::quote(out, msg.hostname()),
                Column::DynamicFields => unreachable!("handled above"),
            }
        }
        out.extend_from_slice(b"}\n");
    }

    fn wanted(&self, field: &FieldView<'_>) -> bool {
        self.dynamic_fields.is_empty()
            || self
                .dynamic_fields
                .iter()
                .any(|n| n.as_bytes() == field.name())
    }

    fn write_fields(&self, msg: &MessageView, first: &mut bool, out: &mut Vec<u8>) {
        let mut inner_first = true;
        let first = match self.names.nested {
            Some(name) => {
                json::key(out, first, name.as_bytes());
                out.push(b'{');
                &mut inner_first
            }
            None => first,
        };
        for field in msg.fields().filter(|f| self.wanted(f)) {
            json::key(out, first, field.name());
            let raw = self
                .raw_bytes_fields
                .iter()
                .any(|n| n.as_bytes() == field.name());
            let count = field.value_count();
            if count != 1 {
                out.push(b'[');
            }
            for i in 0..count {
                if i > 0 {
                    out.push(b',');
                }
                match field.value(i) {
                    Some(value) => write_value(value, raw, out),
                    None => out.extend_from_slice(b"null"),
                }
            }
            if count != 1 {
                out.push(b']');
            }
        }
        if self.names.nested.is_some() {
            out.push(b'}');
        }
    }
}

fn write_value(value: FieldValue<'_>, raw: bool, out: &mut Vec<u8>) {
    match value {
        FieldValue::String(b) | FieldValue::Bytes(b) if raw && is_json(b) => {
            out.extend_from_slice(b)
        }
        FieldValue::String(b) => json::quote(out, b),
        FieldValue::Bytes(b) if raw => json::quote(out, b),
        FieldValue::Bytes(b) => json::quote(out, crate::render::base64(b).as_bytes()),
        FieldValue::Integer(i) => json::integer(out, i),
        FieldValue::Double(d) => json::double(out, d),
        FieldValue::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
    }
}

/// Whether `bytes` is one JSON value (on one line: the bulk format is
/// line-delimited, so a raw value may hold no newline).
fn is_json(bytes: &[u8]) -> bool {
    !bytes.contains(&b'\n') && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}
