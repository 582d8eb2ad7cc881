//! The decoded message as the pipeline carries it: the record's bytes plus a
//! small index of where each header and field is. Decoding validates the
//! whole message once, with exactly prost's acceptance rules, and copies and
//! allocates nothing for messages of up to twelve fields; header and field
//! reads are slices of the record. Routing, matching and reading fields
//! (the matcher, Lua's `read_message`) use this view; code that builds or
//! changes a message uses the owned prost [`Message`], and
//! [`MessageView::to_message`] / [`MessageView::from_message`] convert.
//!
//! Why not the prost struct everywhere: every string field of a prost
//! message is a refcounted `Bytes`, and on a 300-byte message with five
//! fields the refcount traffic and small allocations cost more than twice
//! the whole budget of a decode (see benches/codec.rs).

mod build;
mod field;

use std::ops::Range;

use bytes::Bytes;
use prost::Message as _;
use smallvec::SmallVec;

use crate::ext::{FieldValue, UUID_TEXT_LEN};
use crate::message::Message;
use crate::wire::{Cursor, LEN, RECURSION_LIMIT, VARINT, WireError, WireErrorKind};

pub use build::{FieldHead, MessageBuilder, delimited_len, varint_len};
pub use field::FieldView;
use field::{FieldIndex, index_field};

/// A range of the record, kept small.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of(range: Range<usize>, base: usize) -> Self {
        // Messages over 4 GiB are refused before any span is made.
        Span {
            start: (range.start + base) as u32,
            end: (range.end + base) as u32,
        }
    }

    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}
/// A validated, indexed message; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageView {
    raw: Bytes,
    uuid: Span,
    timestamp: i64,
    msg_type: Option<Span>,
    logger: Option<Span>,
    payload: Option<Span>,
    env_version: Option<Span>,
    hostname: Option<Span>,
    severity: Option<i32>,
    pid: Option<i32>,
    // Twelve inline: an access-log decoder makes nine to twelve fields.
    fields: SmallVec<[FieldIndex; 12]>,
}

impl MessageView {
    /// The view of no bytes (an empty message).
    fn empty() -> Self {
        MessageView {
            raw: Bytes::new(),
            uuid: Span::default(),
            timestamp: 0,
            msg_type: None,
            logger: None,
            payload: None,
            env_version: None,
            hostname: None,
            severity: None,
            pid: None,
            fields: SmallVec::new(),
        }
    }

    /// Validates and indexes a protobuf `Message`. Accepts exactly what
    /// prost's decoder accepts.
    pub fn decode(raw: Bytes) -> Result<Self, WireError> {
        if u32::try_from(raw.len()).is_err() {
            return Err(WireError {
                offset: 0,
                kind: WireErrorKind::LengthExceeded,
            });
        }
        let mut view = MessageView::empty();
        let mut c = Cursor::new(&raw, 0);
        while !c.at_end() {
            let (field, wire) = c.key()?;
            match field {
                1 | 3 | 4 | 6 | 7 | 9 => {
                    c.expect(field, wire, LEN)?;
                    let span = Span::of(c.delimited()?, 0);
                    let text = Some(span);
                    match field {
                        1 => view.uuid = span,
                        3 => view.msg_type = text,
                        4 => view.logger = text,
                        6 => view.payload = text,
                        7 => view.env_version = text,
                        _ => view.hostname = text,
                    }
                }
                2 | 5 | 8 => {
                    c.expect(field, wire, VARINT)?;
                    let v = c.varint()?;
                    match field {
                        2 => view.timestamp = v as i64,
                        5 => view.severity = Some(v as i32),
                        _ => view.pid = Some(v as i32),
                    }
                }
                10 => {
                    c.expect(field, wire, LEN)?;
                    let body = c.delimited()?;
                    view.fields
                        .push(index_field(&raw[body.clone()], body.start)?);
                }
                _ => c.skip(wire, field, RECURSION_LIMIT)?,
            }
        }
        view.raw = raw;
        Ok(view)
    }

    /// Encodes an owned message and indexes the result.
    pub fn from_message(msg: &Message) -> Result<Self, WireError> {
        Self::decode(msg.encode_to_vec().into())
    }

    /// The owned prost form of this message.
    pub fn to_message(&self) -> Message {
        // Accepted by `decode` means accepted by prost (tested), so the
        // fallback is never taken; it keeps this total all the same.
        Message::decode(self.raw.clone()).unwrap_or_default()
    }

    /// The protobuf bytes of the message.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    fn slice(&self, span: Option<Span>) -> &[u8] {
        span.map_or(&[][..], |s| &self.raw[s.range()])
    }

    /// The uuid bytes (16 when well formed).
    pub fn uuid(&self) -> &[u8] {
        &self.raw[self.uuid.range()]
    }

    /// The uuid's hyphenated text form, `None` unless it is 16 bytes.
    pub fn uuid_text(&self) -> Option<[u8; UUID_TEXT_LEN]> {
        crate::ext::uuid_text(self.uuid())
    }

    /// Nanoseconds since the epoch.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The type, `b""` when unset.
    pub fn r#type(&self) -> &[u8] {
        self.slice(self.msg_type)
    }

    /// The logger, `b""` when unset.
    pub fn logger(&self) -> &[u8] {
        self.slice(self.logger)
    }

    /// The payload, `b""` when unset.
    pub fn payload(&self) -> &[u8] {
        self.slice(self.payload)
    }

    /// The envelope version, `b""` when unset.
    pub fn env_version(&self) -> &[u8] {
        self.slice(self.env_version)
    }

    /// The hostname, `b""` when unset.
    pub fn hostname(&self) -> &[u8] {
        self.slice(self.hostname)
    }

    /// The severity, 7 when unset.
    pub fn severity(&self) -> i32 {
        self.severity.unwrap_or(7)
    }

    /// The pid, 0 when unset.
    pub fn pid(&self) -> i32 {
        self.pid.unwrap_or(0)
    }

    /// The severity, `None` when the message does not carry one.
    pub fn severity_if_set(&self) -> Option<i32> {
        self.severity
    }

    /// The pid, `None` when the message does not carry one.
    pub fn pid_if_set(&self) -> Option<i32> {
        self.pid
    }

    /// The fields, in order.
    pub fn fields(&self) -> impl Iterator<Item = FieldView<'_>> {
        self.fields.iter().map(|f| self.field_view(f))
    }

    fn field_view(&self, f: &FieldIndex) -> FieldView<'_> {
        FieldView::at(&self.raw, f)
    }

    /// The `field_index`-th field named `name`.
    #[inline]
    pub fn field(&self, name: &[u8], field_index: usize) -> Option<FieldView<'_>> {
        let mut seen = 0;
        for f in &self.fields {
            if &self.raw[f.name.range()] == name {
                if seen == field_index {
                    return Some(self.field_view(f));
                }
                seen += 1;
            }
        }
        None
    }

    /// The value at `Fields[name][field_index][array_index]`.
    pub fn field_value(
        &self,
        name: &[u8],
        field_index: usize,
        array_index: usize,
    ) -> Option<FieldValue<'_>> {
        self.field(name, field_index)?.value(array_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Field;

    fn sample() -> Message {
        let mut m = Message::new([3; 16], 77);
        m.r#type = Some(Bytes::from_static(b"t"));
        m.severity = Some(-2);
        m.fields = vec![
            Field::string("s", "one"),
            Field::integers("n", [1, -2, 3]),
            Field::double("d", 2.5).with_representation("s"),
            Field::boolean("b", true),
            Field::bytes("s", b"\x00\xff"),
        ];
        m
    }

    #[test]
    fn a_view_reads_what_the_message_holds() {
        let m = sample();
        let v = MessageView::from_message(&m).unwrap();
        assert_eq!(v.uuid(), &[3; 16]);
        assert_eq!(v.timestamp(), 77);
        assert_eq!(v.r#type(), b"t");
        assert_eq!(v.severity(), -2);
        assert_eq!(v.pid(), 0);
        assert_eq!(v.payload(), b"");
        assert_eq!(v.field_value(b"s", 0, 0), Some(FieldValue::String(b"one")));
        assert_eq!(
            v.field_value(b"s", 1, 0),
            Some(FieldValue::Bytes(b"\x00\xff"))
        );
        assert_eq!(v.field_value(b"n", 0, 1), Some(FieldValue::Integer(-2)));
        assert_eq!(v.field_value(b"n", 0, 3), None);
        assert_eq!(v.field_value(b"d", 0, 0), Some(FieldValue::Double(2.5)));
        assert_eq!(v.field_value(b"b", 0, 0), Some(FieldValue::Bool(true)));
        assert_eq!(v.field(b"d", 0).unwrap().representation(), Some(&b"s"[..]));
        assert_eq!(v.field(b"n", 0).unwrap().value_count(), 3);
        assert_eq!(v.to_message(), m);
        let owned: Vec<Field> = v.fields().map(|f| f.to_field()).collect();
        assert_eq!(owned, m.fields);
    }

    #[test]
    fn unpacked_and_repeated_entries_are_read_in_order() {
        // value_integer as an unpacked 1, a packed [2, 3], an unpacked 4.
        let body = [
            0x0a, 0x01, b'n', 0x10, 0x02, 0x30, 0x01, 0x32, 0x02, 0x02, 0x03, 0x30, 0x04,
        ];
        let mut raw = vec![0x52, body.len() as u8];
        raw.extend(body);
        let v = MessageView::decode(raw.into()).unwrap();
        let f = v.field(b"n", 0).unwrap();
        let values: Vec<_> = (0..f.value_count()).map(|i| f.value(i)).collect();
        assert_eq!(values, [1, 2, 3, 4].map(|i| Some(FieldValue::Integer(i))));
    }

    #[test]
    fn later_occurrences_of_a_header_win() {
        // type "a", then type "b".
        let raw = Bytes::from_static(&[0x1a, 0x01, b'a', 0x1a, 0x01, b'b']);
        assert_eq!(MessageView::decode(raw).unwrap().r#type(), b"b");
    }

    #[test]
    fn errors_name_their_offset() {
        // A good type, then a field 10 whose body truncates a string.
        let raw = Bytes::from_static(&[0x1a, 0x01, b'a', 0x52, 0x03, 0x0a, 0x05, b'x']);
        let err = MessageView::decode(raw).unwrap_err();
        assert_eq!(err.offset, 7);
        assert_eq!(err.kind, WireErrorKind::Truncated);
    }
}
