//! PayloadRegexDecoder and ScribbleDecoder: text decoders that run inside
//! an input's stream, after the splitter. The record arrives as a message
//! whose payload is the text; the decoder rewrites its headers and adds
//! fields from `[name.message_fields]` (see `message_fields.rs`).
//!
//! PayloadRegexDecoder (Heka's keys): `match_regex` (Go RE2 syntax, named
//! captures), `message_fields`, `severity_map` (capture text -> severity),
//! `timestamp_layout` (Go layout or Epoch*, default RFC 3339),
//! `timestamp_location` (default UTC), `log_errors` (default true). A
//! capture named `Timestamp` sets the timestamp through the layout and one
//! named `Severity` the severity (through `severity_map`, else as a
//! number), as in Heka; a payload that does not match fails the record.
//! ScribbleDecoder writes its `message_fields` (no captures) on every
//! message.

use std::collections::BTreeMap;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::now_ns;
use heka_actors::plugin::{BuildError, Decoder, Incoming, PluginError, TextRecord};
use heka_proto::{FieldHead, MessageView};
use regex::bytes::{CaptureLocations, Regex};
use serde::Deserialize;

use super::message_fields::{MessageFields, Patch};
use super::options;
use crate::golayout::Layout;

/// Heka's default `timestamp_layout` (Go's RFC 3339).
pub const RFC3339: &str = "2006-01-02T15:04:05Z07:00";

fn rfc3339() -> String {
    RFC3339.into()
}

fn utc() -> String {
    "UTC".into()
}

fn yes() -> bool {
    true
}

/// `[name] type = "PayloadRegexDecoder"` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadRegexDecoderConfig {
    /// The expression, with named captures.
    pub match_regex: String,
    /// Headers and fields to write.
    #[serde(default)]
    pub message_fields: toml::Table,
    /// Capture text -> severity number.
    #[serde(default)]
    pub severity_map: BTreeMap<String, i32>,
    /// How `Timestamp` captures are read.
    #[serde(default = "rfc3339")]
    pub timestamp_layout: String,
    /// Zone of timestamps without an offset.
    #[serde(default = "utc")]
    pub timestamp_location: String,
    /// Log each failed record (counted either way).
    #[serde(default = "yes")]
    pub log_errors: bool,
}

/// Heka's PayloadRegexDecoder.
#[derive(Debug)]
pub struct PayloadRegexDecoder {
    regex: Regex,
    locs: CaptureLocations,
    fields: MessageFields,
    severity_map: BTreeMap<Vec<u8>, i32>,
    layout: Layout,
    timestamp_group: Option<usize>,
    severity_group: Option<usize>,
    log_errors: bool,
    patch: Patch,
    /// The last `Timestamp` capture and its time, when the layout's result
    /// does not depend on now: log lines come many to a second.
    /// (The text's buffer is reused; `None` until a parse succeeded.)
    last_timestamp: (Vec<u8>, Option<i64>),
}

impl PayloadRegexDecoder {
    /// Builds the decoder `spec` describes.
    pub fn build(spec: &PluginSpec, _: &Globals) -> Result<Box<dyn Decoder>, BuildError> {
        let cfg: PayloadRegexDecoderConfig = options(spec)?;
        let regex =
            regex::bytes::RegexBuilder::new(&heka_grammar::re2::translate(&cfg.match_regex))
                .octal(true)
                .build()
                .map_err(|e| BuildError::invalid(spec, format!("match_regex: {e}")))?;
        let group = |name: &str| regex.capture_names().position(|n| n == Some(name));
        let fields = MessageFields::new(&cfg.message_fields, &group)
            .map_err(|e| BuildError::invalid(spec, e))?;
        let layout = Layout::new(&cfg.timestamp_layout, &cfg.timestamp_location)
            .map_err(|e| BuildError::invalid(spec, e))?;
        Ok(Box::new(PayloadRegexDecoder {
            locs: regex.capture_locations(),
            timestamp_group: group("Timestamp"),
            severity_group: group("Severity"),
            regex,
            fields,
            severity_map: cfg
                .severity_map
                .into_iter()
                .map(|(k, v)| (k.into_bytes(), v))
                .collect(),
            layout,
            log_errors: cfg.log_errors,
            patch: Patch::default(),
            last_timestamp: (Vec::new(), None),
        }))
    }
}

/// What a text decoder starts from: the text record itself when nothing
/// needs its message (one pass), else the message.
// One lives on the stack per record; boxing the view would cost an
// allocation per record instead.
#[allow(clippy::large_enum_variant)]
enum Base {
    Text(TextRecord),
    View(MessageView),
}

impl Base {
    fn of(input: Incoming, needs_message: bool) -> Result<Base, PluginError> {
        match input {
            Incoming::Text(text) if !needs_message => Ok(Base::Text(text)),
            other => other.into_message().map(Base::View),
        }
    }

    fn payload(&self) -> &[u8] {
        match self {
            Base::Text(text) => text.payload(),
            Base::View(view) => view.payload(),
        }
    }

    fn view(&self) -> Option<&MessageView> {
        match self {
            Base::Text(_) => None,
            Base::View(view) => Some(view),
        }
    }

    fn patched(&self, patch: &Patch, heads: &[FieldHead]) -> Result<MessageView, PluginError> {
        match self {
            Base::Text(text) => patch.apply_text(text, heads),
            Base::View(view) => patch.apply(view, heads),
        }
        .map_err(|e| PluginError::message(format!("message too large: {e}")))
    }
}

impl Decoder for PayloadRegexDecoder {
    fn parallel(&self) -> bool {
        true
    }

    fn decode(&mut self, input: Incoming, out: &mut Vec<MessageView>) -> Result<(), PluginError> {
        let base = Base::of(input, self.fields.needs_message())?;
        let payload = base.payload();
        if self.regex.captures_read(&mut self.locs, payload).is_none() {
            let shown = &payload[..payload.len().min(200)];
            let text = format!("no match: {:?}", String::from_utf8_lossy(shown));
            if self.log_errors {
                tracing::debug!(error = %text, "PayloadRegexDecoder");
            }
            return Err(PluginError::message(text));
        }
        let locs = &self.locs;
        let caps = |i: usize| locs.get(i);
        let patch = &mut self.patch;
        patch.clear();
        // Only a layout without a year reads the clock (a vDSO call per
        // record otherwise).
        let now = if self.layout.needs_now() { now_ns() } else { 0 };
        if let Some((start, end)) = self.timestamp_group.and_then(caps) {
            let text = &payload[start..end];
            let last = &mut self.last_timestamp;
            patch.timestamp = Some(match last.1 {
                Some(ns) if last.0[..] == *text => ns,
                _ => {
                    last.1 = None;
                    let ns = self
                        .layout
                        .parse(text, now)
                        .map_err(|e| PluginError::message(e.to_string()))?;
                    if !self.layout.needs_now() {
                        last.0.clear();
                        last.0.extend_from_slice(text);
                        last.1 = Some(ns);
                    }
                    ns
                }
            });
        }
        let map = &self.severity_map;
        let severity = |text: &[u8]| map.get(text).copied();
        if let Some((start, end)) = self.severity_group.and_then(caps) {
            let text = &payload[start..end];
            patch.severity = Some(match severity(text) {
                Some(s) => s,
                None => std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .ok_or_else(|| {
                        PluginError::message(format!(
                            "Severity: {:?} is neither in severity_map nor a number",
                            String::from_utf8_lossy(text)
                        ))
                    })?,
            });
        }
        self.fields
            .apply(
                base.view(),
                payload,
                &caps,
                &self.layout,
                &severity,
                now,
                patch,
            )
            .map_err(PluginError::message)?;
        out.push(base.patched(patch, self.fields.heads())?);
        Ok(())
    }
}

/// `[name] type = "ScribbleDecoder"` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScribbleDecoderConfig {
    /// Headers and fields to write.
    pub message_fields: toml::Table,
}

/// Heka's ScribbleDecoder.
#[derive(Debug)]
pub struct ScribbleDecoder {
    fields: MessageFields,
    layout: Layout,
}

impl ScribbleDecoder {
    /// Builds the decoder `spec` describes.
    pub fn build(spec: &PluginSpec, _: &Globals) -> Result<Box<dyn Decoder>, BuildError> {
        let cfg: ScribbleDecoderConfig = options(spec)?;
        let fields = MessageFields::new(&cfg.message_fields, &|_| None)
            .map_err(|e| BuildError::invalid(spec, e))?;
        let layout = Layout::new(RFC3339, "UTC").map_err(|e| BuildError::invalid(spec, e))?;
        Ok(Box::new(ScribbleDecoder { fields, layout }))
    }
}

impl Decoder for ScribbleDecoder {
    fn parallel(&self) -> bool {
        true
    }

    fn decode(&mut self, input: Incoming, out: &mut Vec<MessageView>) -> Result<(), PluginError> {
        let base = Base::of(input, self.fields.needs_message())?;
        let mut patch = Patch::default();
        self.fields
            .apply(
                base.view(),
                base.payload(),
                &|_| None,
                &self.layout,
                &|_| None,
                now_ns(),
                &mut patch,
            )
            .map_err(PluginError::message)?;
        out.push(base.patched(&patch, self.fields.heads())?);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
