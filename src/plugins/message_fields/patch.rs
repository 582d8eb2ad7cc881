//! The changes a text decoder makes to a message (new headers, added
//! fields), written straight into the new message's protobuf bytes: the
//! per-record path builds no owned `Message`, so a decoded line costs one
//! buffer and one index, not an allocation per field.

use bytes::Bytes;
use heka_actors::pack::now_ns;
use heka_actors::plugin::TextRecord;
use heka_proto::prost::Message as _;
use heka_proto::prost::encoding::encoded_len_varint;
use heka_proto::write::{bytes_field, delimited_header, varint_field};
use heka_proto::{MessageView, WireError};

/// Header values to replace and fields to add.
#[derive(Debug, Default)]
pub struct Patch {
    pub(super) r#type: Option<Vec<u8>>,
    pub(super) logger: Option<Vec<u8>>,
    pub(super) hostname: Option<Vec<u8>>,
    pub(super) payload: Option<Vec<u8>>,
    pub(super) env_version: Option<Vec<u8>>,
    pub(super) uuid: Option<[u8; 16]>,
    /// New timestamp (ns).
    pub timestamp: Option<i64>,
    /// New severity.
    pub severity: Option<i32>,
    pub(super) pid: Option<i32>,
    /// Encoded `Field` entries (tag 10 and all) to append.
    fields: Vec<u8>,
}

/// A field value to add.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Text(&'a [u8]),
    Integer(i64),
    Double(f64),
    Bool(bool),
}

impl Patch {
    /// Clears it for the next record (keeping its buffers).
    pub fn clear(&mut self) {
        let mut fields = std::mem::take(&mut self.fields);
        fields.clear();
        *self = Patch {
            fields,
            ..Patch::default()
        };
    }

    /// Appends a field (`Fields[name]`, one value).
    pub(super) fn add_field(&mut self, name: &str, representation: &str, value: Value<'_>) {
        // Written in place: the Field's length first, then its parts.
        let mut packed = [0u8; 10];
        let (kind, value_tag, value): (u64, u32, &[u8]) = match value {
            Value::Text(t) => (0, 4, t),
            // Packed, as Heka's schema declares them.
            Value::Integer(i) => {
                let mut n = i as u64;
                let mut len = 0;
                loop {
                    let byte = (n & 0x7f) as u8;
                    n >>= 7;
                    packed[len] = if n == 0 { byte } else { byte | 0x80 };
                    len += 1;
                    if n == 0 {
                        break;
                    }
                }
                (2, 6, &packed[..len])
            }
            Value::Double(d) => {
                packed[..8].copy_from_slice(&d.to_le_bytes());
                (3, 7, &packed[..8])
            }
            Value::Bool(b) => {
                packed[0] = u8::from(b);
                (4, 8, &packed[..1])
            }
        };
        let delimited = |len: usize| 1 + encoded_len_varint(len as u64) + len;
        let mut body = delimited(name.len()) + delimited(value.len());
        if kind != 0 {
            body += 2;
        }
        if !representation.is_empty() {
            body += delimited(representation.len());
        }
        let out = &mut self.fields;
        delimited_header(10, body, out);
        bytes_field(1, name.as_bytes(), out);
        if kind != 0 {
            varint_field(2, kind, out);
        }
        if !representation.is_empty() {
            bytes_field(3, representation.as_bytes(), out);
        }
        bytes_field(value_tag, value, out);
    }

    /// The message `view` becomes with this patch: its headers unless
    /// patched, its fields, then the patch's fields.
    pub fn apply(&self, view: &MessageView) -> Result<MessageView, WireError> {
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
        self.write(parts, view.raw().len(), |out| {
            for field in view.fields() {
                bytes_field(10, &field.to_field().encode_to_vec(), out);
            }
        })
    }

    /// The message a text record becomes with this patch, in one pass: the
    /// same message as [`Patch::apply`] on the record's text message (a
    /// fresh uuid, now, the stream's headers), without building that one.
    pub fn apply_text(&self, text: &TextRecord) -> Result<MessageView, WireError> {
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
        self.write(parts, text.payload().len(), |out| {
            out.extend_from_slice(text.encoded_fields())
        })
    }

    fn write(
        &self,
        old: Parts<'_>,
        size: usize,
        old_fields: impl FnOnce(&mut Vec<u8>),
    ) -> Result<MessageView, WireError> {
        let mut out = Vec::with_capacity(size + self.fields.len() + 96);
        bytes_field(1, self.uuid.as_ref().map_or(old.uuid, |u| &u[..]), &mut out);
        varint_field(2, self.timestamp.unwrap_or(old.timestamp) as u64, &mut out);
        let text = |tag, new: &Option<Vec<u8>>, old: &[u8], out: &mut Vec<u8>| {
            let value = new.as_deref().unwrap_or(old);
            if !value.is_empty() {
                bytes_field(tag, value, out);
            }
        };
        text(3, &self.r#type, old.r#type, &mut out);
        text(4, &self.logger, old.logger, &mut out);
        let severity = self.severity.unwrap_or(old.severity);
        varint_field(5, i64::from(severity) as u64, &mut out);
        text(6, &self.payload, old.payload, &mut out);
        text(7, &self.env_version, old.env_version, &mut out);
        let pid = self.pid.unwrap_or(old.pid);
        if pid != 0 {
            varint_field(8, i64::from(pid) as u64, &mut out);
        }
        text(9, &self.hostname, old.hostname, &mut out);
        old_fields(&mut out);
        out.extend_from_slice(&self.fields);
        MessageView::decode(Bytes::from(out))
    }
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
