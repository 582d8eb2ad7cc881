//! The changes a text decoder makes to a message (new headers, added
//! fields) and the message they make. Values stay where they are: a
//! template that is one capture is a range of the record's payload, others
//! are rendered once into the patch's scratch buffer; the new message is
//! then written in one pass, to its exact size, with its index
//! ([`MessageBuilder`]). The per-record path makes no owned `Message` and
//! allocates only the message's own buffer.

use heka_actors::pack::now_ns;
use heka_actors::plugin::TextRecord;
use heka_proto::view::{delimited_len, varint_len};
use heka_proto::{FieldHead, FieldValue, MessageBuilder, MessageView, WireError};

/// Where a text value is: rendered into the patch's scratch buffer, or a
/// range of the payload the record arrived with. Two `u32`s and a flag,
/// copied whole: built from two `usize` ranges it was written in parts and
/// read back in one, a store-forwarding stall per field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Text {
    start: u32,
    end: u32,
    scratch: bool,
}

impl Text {
    /// `start..end` of the payload.
    pub(super) fn payload(start: usize, end: usize) -> Text {
        Text::new(start, end, false)
    }

    /// `start..end` of the scratch buffer.
    pub(super) fn scratch(start: usize, end: usize) -> Text {
        Text::new(start, end, true)
    }

    fn new(start: usize, end: usize, scratch: bool) -> Text {
        // Records and messages stay far below 4 GiB (the maximum record and
        // message sizes); past that a value reads as empty, never wrong.
        let (start, end) = match (u32::try_from(start), u32::try_from(end)) {
            (Ok(s), Ok(e)) => (s, e),
            _ => (0, 0),
        };
        Text {
            start,
            end,
            scratch,
        }
    }
}

/// A field value to add.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Text(Text),
    Integer(i64),
    Double(f64),
    Bool(bool),
}

/// Header values to replace and fields to add, for one record.
#[derive(Debug, Default)]
pub struct Patch {
    /// Rendered text the scratch [`Text`]s point into.
    pub(super) scratch: Vec<u8>,
    pub(super) r#type: Option<Text>,
    pub(super) logger: Option<Text>,
    pub(super) hostname: Option<Text>,
    pub(super) payload: Option<Text>,
    pub(super) env_version: Option<Text>,
    pub(super) uuid: Option<[u8; 16]>,
    /// New timestamp (ns).
    pub timestamp: Option<i64>,
    /// New severity.
    pub severity: Option<i32>,
    pub(super) pid: Option<i32>,
    /// Fields to append: which head (of the `heads` the message is
    /// written with), which value.
    pub(super) fields: Vec<(usize, Value)>,
}

/// The headers a patch starts from.
struct Parts<'a> {
    uuid: &'a [u8],
    timestamp: i64,
    r#type: &'a [u8],
    logger: &'a [u8],
    severity: i32,
    payload: &'a [u8],
    env_version: &'a [u8],
    pid: i32,
    hostname: &'a [u8],
}

impl Patch {
    /// Clears it for the next record (keeping its buffers).
    pub fn clear(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut fields = std::mem::take(&mut self.fields);
        scratch.clear();
        fields.clear();
        *self = Patch {
            scratch,
            fields,
            ..Patch::default()
        };
    }

    /// The bytes of `text`, for a record whose payload is `payload`.
    pub(super) fn text<'a>(&'a self, text: &Text, payload: &'a [u8]) -> &'a [u8] {
        let range = text.start as usize..text.end as usize;
        match text.scratch {
            true => &self.scratch[range],
            false => &payload[range],
        }
    }

    fn header<'a>(&'a self, new: &Option<Text>, old: &'a [u8], payload: &'a [u8]) -> &'a [u8] {
        new.as_ref().map_or(old, |t| self.text(t, payload))
    }

    fn value<'a>(&'a self, value: &Value, payload: &'a [u8]) -> FieldValue<'a> {
        match value {
            Value::Text(t) => FieldValue::String(self.text(t, payload)),
            Value::Integer(i) => FieldValue::Integer(*i),
            Value::Double(d) => FieldValue::Double(*d),
            Value::Bool(b) => FieldValue::Bool(*b),
        }
    }

    /// The message `view` becomes with this patch: its headers unless
    /// patched, its fields, then the patch's fields (`heads` names them).
    pub fn apply(&self, view: &MessageView, heads: &[FieldHead]) -> Result<MessageView, WireError> {
        let parts = Parts {
            uuid: view.uuid(),
            timestamp: view.timestamp(),
            r#type: view.r#type(),
            logger: view.logger(),
            severity: view.severity(),
            payload: view.payload(),
            env_version: view.env_version(),
            pid: view.pid(),
            hostname: view.hostname(),
        };
        let old_fields = view.raw().len();
        self.write(parts, heads, (old_fields, true), |b| {
            b.fields_of(view);
            Ok(())
        })
    }

    /// The message a text record becomes with this patch, in one pass: the
    /// same message as [`Patch::apply`] on the record's text message (a
    /// fresh uuid, now, the stream's headers), without building that one.
    pub fn apply_text(
        &self,
        text: &TextRecord,
        heads: &[FieldHead],
    ) -> Result<MessageView, WireError> {
        let mut uuid = [0u8; 16];
        if self.uuid.is_none() {
            fastrand::fill(&mut uuid);
            uuid[6] = (uuid[6] & 0x0f) | 0x40;
            uuid[8] = (uuid[8] & 0x3f) | 0x80;
        }
        let parts = Parts {
            uuid: &uuid,
            timestamp: if self.timestamp.is_none() {
                now_ns()
            } else {
                0
            },
            r#type: text.msg_type().unwrap_or_default(),
            logger: text.logger(),
            severity: text.severity().unwrap_or(7),
            payload: text.payload(),
            env_version: b"",
            pid: 0,
            hostname: text.hostname(),
        };
        let old = text.encoded_fields();
        self.write(parts, heads, (old.len(), false), |b| b.encoded_fields(old))
    }

    /// Writes the message: `old_fields` is the size of what `fields`
    /// appends (the original message's fields), or more when
    /// `old_fields_upper_bound`.
    fn write(
        &self,
        old: Parts<'_>,
        heads: &[FieldHead],
        (old_fields, old_fields_upper_bound): (usize, bool),
        fields: impl FnOnce(&mut MessageBuilder) -> Result<(), WireError>,
    ) -> Result<MessageView, WireError> {
        let payload = old.payload;
        let uuid = self.uuid.as_ref().map_or(old.uuid, |u| &u[..]);
        let timestamp = self.timestamp.unwrap_or(old.timestamp);
        let severity = self.severity.unwrap_or(old.severity);
        let pid = self.pid.unwrap_or(old.pid);
        let texts = [
            self.header(&self.r#type, old.r#type, payload),
            self.header(&self.logger, old.logger, payload),
            self.header(&self.payload, old.payload, payload),
            self.header(&self.env_version, old.env_version, payload),
            self.header(&self.hostname, old.hostname, payload),
        ];
        // The exact size, so the buffer becomes the message's bytes as is.
        let mut size = delimited_len(uuid.len())
            + 1
            + varint_len(timestamp as u64)
            + 1
            + varint_len(i64::from(severity) as u64)
            + old_fields;
        if pid != 0 {
            size += 1 + varint_len(i64::from(pid) as u64);
        }
        for value in &texts {
            if !value.is_empty() {
                size += delimited_len(value.len());
            }
        }
        for (head, value) in &self.fields {
            size += MessageBuilder::field_len(&heads[*head], &self.value(value, payload));
        }
        // Field-number order, as prost writes a message.
        let mut b = MessageBuilder::with_capacity(size);
        b.uuid(uuid);
        b.timestamp(timestamp);
        let [r#type, logger, payload_text, env_version, hostname] = texts;
        if !r#type.is_empty() {
            b.r#type(r#type);
        }
        if !logger.is_empty() {
            b.logger(logger);
        }
        b.severity(severity);
        if !payload_text.is_empty() {
            b.payload(payload_text);
        }
        if !env_version.is_empty() {
            b.env_version(env_version);
        }
        if pid != 0 {
            b.pid(pid);
        }
        if !hostname.is_empty() {
            b.hostname(hostname);
        }
        fields(&mut b)?;
        for (head, value) in &self.fields {
            b.field(&heads[*head], self.value(value, payload));
        }
        // The text path knows its old fields' size exactly: what it
        // computed must be what it wrote (else a second allocation).
        debug_assert!(
            b.len() == size || old_fields_upper_bound,
            "size {size}, wrote {}",
            b.len()
        );
        b.finish()
    }
}
