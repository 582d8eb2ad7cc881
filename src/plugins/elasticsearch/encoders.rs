//! ESJsonEncoder and ESLogstashV0Encoder: the encoders in front of an
//! ElasticSearchOutput. Each matched pack becomes one bulk API pair, two
//! lines each ending in `\n`: the action line ([`Coordinates`]: index,
//! type, id) and the document ([`Document`]).
//!
//! - ESJsonEncoder writes a flat document whose header names are Heka's
//!   (`Uuid`, `Timestamp`, …, renamed by `field_mappings`) with the
//!   dynamic fields beside them.
//! - ESLogstashV0Encoder writes Logstash's v0 schema: `@uuid`,
//!   `@timestamp`, `@type`, `@logger`, `@severity`, `@message` (the
//!   payload), `@envversion`, `@pid`, `@source_host` (the hostname) and the
//!   dynamic fields in an `@fields` object. `@type` is the interpolated
//!   `type_name`, or the message's type with `use_message_type = true`;
//!   the action line's `_type` is always `type_name`.

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::{Pack, now_ns};
use heka_actors::plugin::{BuildError, Encoder, PluginError};
use serde::Deserialize;

use super::coordinates::Coordinates;
use super::document::{Column, DEFAULT_FIELDS, DEFAULT_TIMESTAMP, Document, Names};
use crate::golayout::format::GoLayout;
use crate::plugins::options;

fn default_fields() -> Vec<String> {
    DEFAULT_FIELDS.iter().map(|s| (*s).to_owned()).collect()
}
fn default_timestamp() -> String {
    DEFAULT_TIMESTAMP.into()
}
fn default_type_name() -> String {
    "message".into()
}
fn default_json_index() -> String {
    "heka-%{%Y.%m.%d}".into()
}
fn default_logstash_index() -> String {
    "logstash-%{%Y.%m.%d}".into()
}

/// `[name.field_mappings]`: the JSON names of ESJsonEncoder's header
/// columns (Heka's keys, each defaulting to its own name).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "PascalCase")]
pub struct FieldMappings {
    /// Name for the uuid.
    pub uuid: String,
    /// Name for the timestamp.
    pub timestamp: String,
    /// Name for the type.
    #[serde(rename = "Type")]
    pub msg_type: String,
    /// Name for the logger.
    pub logger: String,
    /// Name for the severity.
    pub severity: String,
    /// Name for the payload.
    pub payload: String,
    /// Name for the envelope version.
    pub env_version: String,
    /// Name for the pid.
    pub pid: String,
    /// Name for the hostname.
    pub hostname: String,
}

impl Default for FieldMappings {
    fn default() -> Self {
        FieldMappings {
            uuid: "Uuid".into(),
            timestamp: "Timestamp".into(),
            msg_type: "Type".into(),
            logger: "Logger".into(),
            severity: "Severity".into(),
            payload: "Payload".into(),
            env_version: "EnvVersion".into(),
            pid: "Pid".into(),
            hostname: "Hostname".into(),
        }
    }
}

/// ESJsonEncoder's options, with Heka's names and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ESJsonEncoderConfig {
    /// Index name, with `%{…}` interpolation (default "heka-%{%Y.%m.%d}").
    #[serde(default = "default_json_index")]
    pub index: String,
    /// Document type, with interpolation (default "message"; "" for none).
    #[serde(default = "default_type_name")]
    pub type_name: String,
    /// Which columns, in order (default Heka's ten).
    #[serde(default = "default_fields")]
    pub fields: Vec<String>,
    /// Go layout of the timestamp (default "2006-01-02T15:04:05.000Z").
    #[serde(default = "default_timestamp")]
    pub timestamp: String,
    /// Interpolate times from the message's timestamp instead of now.
    #[serde(default)]
    pub es_index_from_timestamp: bool,
    /// Document id, with interpolation (default none: ElasticSearch's).
    #[serde(default)]
    pub id: String,
    /// Dynamic fields written as raw JSON.
    #[serde(default)]
    pub raw_bytes_fields: Vec<String>,
    /// JSON names of the header columns.
    #[serde(default)]
    pub field_mappings: FieldMappings,
    /// Only these dynamic fields (default all).
    #[serde(default)]
    pub dynamic_fields: Vec<String>,
}

/// ESLogstashV0Encoder's options, with Heka's names and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ESLogstashV0EncoderConfig {
    /// Index name (default "logstash-%{%Y.%m.%d}").
    #[serde(default = "default_logstash_index")]
    pub index: String,
    /// Document type and `@type` (default "message").
    #[serde(default = "default_type_name")]
    pub type_name: String,
    /// Which columns, in order (default Heka's ten).
    #[serde(default = "default_fields")]
    pub fields: Vec<String>,
    /// Go layout of `@timestamp`.
    #[serde(default = "default_timestamp")]
    pub timestamp: String,
    /// `@type` is the message's type instead of `type_name`.
    #[serde(default)]
    pub use_message_type: bool,
    /// Interpolate times from the message's timestamp instead of now.
    #[serde(default)]
    pub es_index_from_timestamp: bool,
    /// Document id, with interpolation.
    #[serde(default)]
    pub id: String,
    /// Dynamic fields written as raw JSON.
    #[serde(default)]
    pub raw_bytes_fields: Vec<String>,
    /// Only these dynamic fields (default all).
    #[serde(default)]
    pub dynamic_fields: Vec<String>,
}

fn columns(spec: &PluginSpec, fields: &[String]) -> Result<Vec<Column>, BuildError> {
    Column::parse_list(fields).map_err(|e| spec.invalid("fields", e).into())
}

/// Heka's ESJsonEncoder; see the module docs.
#[derive(Debug, Clone)]
pub struct ESJsonEncoder {
    coordinates: Coordinates,
    document: Document,
}

impl ESJsonEncoder {
    /// Builds the encoder `spec` describes.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Encoder>, BuildError> {
        let c: ESJsonEncoderConfig = options(spec)?;
        let m = &c.field_mappings;
        let headers = [
            &m.uuid,
            &m.timestamp,
            &m.msg_type,
            &m.logger,
            &m.severity,
            &m.payload,
            &m.env_version,
            &m.pid,
            &m.hostname,
        ]
        .map(String::clone);
        Ok(Box::new(ESJsonEncoder {
            coordinates: Coordinates::new(&c.index, &c.type_name, &c.id, c.es_index_from_timestamp),
            document: Document {
                columns: columns(spec, &c.fields)?,
                names: Names {
                    headers,
                    nested: None,
                },
                layout: GoLayout::new(&c.timestamp),
                dynamic_fields: c.dynamic_fields,
                raw_bytes_fields: c.raw_bytes_fields,
            },
        }))
    }
}

impl Encoder for ESJsonEncoder {
    fn encode(&mut self, pack: &Pack, out: &mut Vec<u8>) -> Result<(), PluginError> {
        let msg = &pack.message;
        self.coordinates.write_action(msg, now_ns(), out);
        self.document.write(msg, msg.r#type(), out);
        Ok(())
    }
}

/// Heka's ESLogstashV0Encoder; see the module docs.
#[derive(Debug, Clone)]
pub struct ESLogstashV0Encoder {
    coordinates: Coordinates,
    document: Document,
    use_message_type: bool,
}

impl ESLogstashV0Encoder {
    /// Builds the encoder `spec` describes.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Encoder>, BuildError> {
        let c: ESLogstashV0EncoderConfig = options(spec)?;
        let headers = [
            "@uuid",
            "@timestamp",
            "@type",
            "@logger",
            "@severity",
            "@message",
            "@envversion",
            "@pid",
            "@source_host",
        ]
        .map(str::to_owned);
        Ok(Box::new(ESLogstashV0Encoder {
            coordinates: Coordinates::new(&c.index, &c.type_name, &c.id, c.es_index_from_timestamp),
            document: Document {
                columns: columns(spec, &c.fields)?,
                names: Names {
                    headers,
                    nested: Some("@fields"),
                },
                layout: GoLayout::new(&c.timestamp),
                dynamic_fields: c.dynamic_fields,
                raw_bytes_fields: c.raw_bytes_fields,
            },
            use_message_type: c.use_message_type,
        }))
    }
}

impl Encoder for ESLogstashV0Encoder {
    fn encode(&mut self, pack: &Pack, out: &mut Vec<u8>) -> Result<(), PluginError> {
        let msg = &pack.message;
        let now = now_ns();
        self.coordinates.write_action(msg, now, out);
        if self.use_message_type {
            self.document.write(msg, msg.r#type(), out);
        } else {
            let type_name = self.coordinates.type_name(msg, now);
            self.document.write(msg, type_name.as_bytes(), out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
