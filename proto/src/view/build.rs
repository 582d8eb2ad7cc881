//! MessageBuilder: writes a new message's protobuf bytes and its
//! [`MessageView`] index in one pass, for code that makes a message per
//! record (text records, text decoders). The bytes are ours, so they are
//! not parsed back: each header and field is indexed where it is written.
//! Only field entries copied from elsewhere ([`MessageBuilder::encoded_fields`])
//! are validated, as [`MessageView::decode`] would.
//!
//! Small pieces (keys, lengths, a field's type) are pushed byte by byte:
//! a message has some forty of them, and a `memcpy` call per piece cost
//! more than the copies themselves.

use bytes::Bytes;

use super::field::{FieldIndex, index_field};
use super::{MessageView, Span};
use crate::ext::FieldValue;
use crate::wire::{Cursor, LEN, WireError, WireErrorKind};

/// A field's name and representation, encoded once (at configuration time)
/// for every message that carries the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldHead {
    /// `name` entry (key, length, bytes).
    name: Box<[u8]>,
    /// Where the name's bytes start in `name`.
    name_at: u8,
    /// `representation` entry, empty when there is none.
    representation: Box<[u8]>,
}

impl FieldHead {
    /// The head of fields called `name`, with `representation` (`""`: none).
    pub fn new(name: &[u8], representation: &[u8]) -> FieldHead {
        let entry = |tag: u8, text: &[u8]| {
            let mut out = Vec::with_capacity(text.len() + 11);
            out.push(tag << 3 | LEN);
            push_varint(&mut out, text.len() as u64);
            let at = out.len();
            out.extend_from_slice(text);
            (out.into_boxed_slice(), at)
        };
        let (name, name_at) = entry(1, name);
        let representation = if representation.is_empty() {
            Box::default()
        } else {
            entry(3, representation).0
        };
        FieldHead {
            name,
            name_at: name_at as u8,
            representation,
        }
    }

    /// The field's name.
    pub fn name(&self) -> &[u8] {
        &self.name[self.name_at as usize..]
    }
}

/// Calls `with` on the wire form of `value`: its `Field` tag, its
/// `value_type` and its payload (a string, or a packed run of one number).
#[inline(always)]
fn encoded<R>(value: &FieldValue<'_>, with: impl FnOnce(u8, i32, &[u8]) -> R) -> R {
    let mut number = [0u8; 10];
    match *value {
        FieldValue::String(t) => with(4, 0, t),
        FieldValue::Bytes(t) => with(5, 1, t),
        FieldValue::Integer(i) => {
            let n = crate::write::varint(i as u64, &mut number);
            with(6, 2, &number[..n])
        }
        FieldValue::Double(d) => {
            number[..8].copy_from_slice(&d.to_le_bytes());
            with(7, 3, &number[..8])
        }
        FieldValue::Bool(b) => with(8, 4, &[u8::from(b)]),
    }
}

/// The bytes a length-delimited entry of `len` bytes takes, key included.
pub fn delimited_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// The bytes a varint takes.
pub fn varint_len(value: u64) -> usize {
    // 1 + floor(bits / 7), with 0 taking one byte.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Builds one message; see the module docs.
#[derive(Debug)]
pub struct MessageBuilder {
    raw: Vec<u8>,
    view: MessageView,
}

impl MessageBuilder {
    /// A builder whose buffer holds `capacity` bytes: when the message ends
    /// up exactly that long, [`MessageBuilder::finish`] hands the buffer
    /// over without another allocation.
    pub fn with_capacity(capacity: usize) -> MessageBuilder {
        MessageBuilder {
            raw: Vec::with_capacity(capacity),
            view: MessageView::empty(),
        }
    }

    fn text(&mut self, tag: u8, value: &[u8]) -> Span {
        let raw = &mut self.raw;
        // Exactly what is written: a buffer sized for the whole message
        // must not grow.
        raw.reserve(delimited_len(value.len()));
        raw.push(tag << 3 | LEN);
        push_varint(raw, value.len() as u64);
        let start = raw.len();
        raw.extend_from_slice(value);
        Span::of(start..raw.len(), 0)
    }

    fn number(&mut self, tag: u8, value: u64) {
        self.raw.reserve(1 + varint_len(value));
        self.raw.push(tag << 3);
        push_varint(&mut self.raw, value);
    }

    /// Writes the uuid (field 1).
    pub fn uuid(&mut self, uuid: &[u8]) {
        self.view.uuid = self.text(1, uuid);
    }

    /// Writes the timestamp in nanoseconds (field 2).
    pub fn timestamp(&mut self, ns: i64) {
        self.number(2, ns as u64);
        self.view.timestamp = ns;
    }

    /// Writes the type (field 3).
    pub fn r#type(&mut self, value: &[u8]) {
        self.view.msg_type = Some(self.text(3, value));
    }

    /// Writes the logger (field 4).
    pub fn logger(&mut self, value: &[u8]) {
        self.view.logger = Some(self.text(4, value));
    }

    /// Writes the severity (field 5).
    pub fn severity(&mut self, value: i32) {
        self.number(5, i64::from(value) as u64);
        self.view.severity = Some(value);
    }

    /// Writes the payload (field 6).
    pub fn payload(&mut self, value: &[u8]) {
        self.view.payload = Some(self.text(6, value));
    }

    /// Writes the envelope version (field 7).
    pub fn env_version(&mut self, value: &[u8]) {
        self.view.env_version = Some(self.text(7, value));
    }

    /// Writes the pid (field 8).
    pub fn pid(&mut self, value: i32) {
        self.number(8, i64::from(value) as u64);
        self.view.pid = Some(value);
    }

    /// Writes the hostname (field 9).
    pub fn hostname(&mut self, value: &[u8]) {
        self.view.hostname = Some(self.text(9, value));
    }

    /// The bytes [`MessageBuilder::field`] writes for `head` and `value`.
    pub fn field_len(head: &FieldHead, value: &FieldValue<'_>) -> usize {
        encoded(value, |_, value_type, payload| {
            delimited_len(Self::field_body_len(head, value_type, payload))
        })
    }

    #[inline(always)]
    fn field_body_len(head: &FieldHead, value_type: i32, payload: &[u8]) -> usize {
        let value_type = if value_type == 0 { 0 } else { 2 };
        head.name.len() + value_type + head.representation.len() + delimited_len(payload.len())
    }

    /// Writes a field (field 10) of one value.
    pub fn field(&mut self, head: &FieldHead, value: FieldValue<'_>) {
        encoded(&value, |tag, value_type, payload| {
            self.field_entry(head, tag, value_type, payload)
        })
    }

    #[inline(always)]
    fn field_entry(&mut self, head: &FieldHead, tag: u8, value_type: i32, payload: &[u8]) {
        let body = Self::field_body_len(head, value_type, payload);
        let raw = &mut self.raw;
        raw.reserve(delimited_len(body));
        raw.push(10 << 3 | LEN);
        push_varint(raw, body as u64);
        let body_start = raw.len();
        let name_start = body_start + head.name_at as usize;
        raw.extend_from_slice(&head.name);
        if value_type != 0 {
            raw.push(2 << 3);
            raw.push(value_type as u8);
        }
        raw.extend_from_slice(&head.representation);
        raw.push(tag << 3 | LEN);
        push_varint(raw, payload.len() as u64);
        let first = raw.len();
        raw.extend_from_slice(payload);
        self.view.fields.push(FieldIndex {
            body: Span::of(body_start..raw.len(), 0),
            name: Span::of(name_start..name_start + head.name().len(), 0),
            value_type,
            first: Span::of(first..raw.len(), 0),
            first_tag: tag,
            entries: 1,
        });
    }

    /// Appends field entries (each a field-10 key, length and `Field`)
    /// encoded elsewhere, validating and indexing them as
    /// [`MessageView::decode`] does.
    pub fn encoded_fields(&mut self, entries: &[u8]) -> Result<(), WireError> {
        let base = self.raw.len();
        let mut c = Cursor::new(entries, base);
        while !c.at_end() {
            let (field, wire) = c.key()?;
            if field != 10 {
                return Err(WireError {
                    offset: c.position(),
                    kind: WireErrorKind::NotAField(field),
                });
            }
            c.expect(field, wire, LEN)?;
            // Cursor ranges are within `entries`; `base` places them.
            let body = c.delimited()?;
            let at = base + body.start;
            self.view.fields.push(index_field(&entries[body], at)?);
        }
        self.raw.extend_from_slice(entries);
        Ok(())
    }

    /// Appends the fields of `view`, as they are there.
    pub fn fields_of(&mut self, view: &MessageView) {
        for f in &view.fields {
            let body = &view.raw[f.body.range()];
            self.raw.reserve(delimited_len(body.len()));
            self.raw.push(10 << 3 | LEN);
            push_varint(&mut self.raw, body.len() as u64);
            // Every span of the field moves by the same distance.
            let to = self.raw.len() as u32;
            let from = f.body.start;
            let moved = |s: Span| Span {
                start: s.start - from + to,
                end: s.end - from + to,
            };
            self.raw.extend_from_slice(body);
            self.view.fields.push(FieldIndex {
                body: moved(f.body),
                name: moved(f.name),
                first: if f.entries == 0 {
                    f.first
                } else {
                    moved(f.first)
                },
                ..*f
            });
        }
    }

    /// The bytes written so far.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The message, indexed.
    pub fn finish(self) -> Result<MessageView, WireError> {
        if u32::try_from(self.raw.len()).is_err() {
            return Err(WireError {
                offset: 0,
                kind: WireErrorKind::LengthExceeded,
            });
        }
        let mut view = self.view;
        view.raw = Bytes::from(self.raw);
        Ok(view)
    }
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Field, Message};
    use prost::Message as _;

    fn heads() -> [FieldHead; 3] {
        [
            FieldHead::new(b"status", b""),
            FieldHead::new(b"bytes", b"B"),
            FieldHead::new(&[b'n'; 200], b""),
        ]
    }

    #[test]
    fn a_built_message_is_what_decoding_its_bytes_gives() {
        let [status, bytes, long] = heads();
        let mut extra = Vec::new();
        for f in [Field::string("x", "y"), Field::integers("i", [1, 2])] {
            let body = f.encode_to_vec();
            extra.push(0x52);
            extra.push(body.len() as u8);
            extra.extend(body);
        }
        let values = [
            FieldValue::String(b"200"),
            FieldValue::Bytes(&[0, 255]),
            FieldValue::Integer(-3),
            FieldValue::Integer(1 << 40),
            FieldValue::Double(2.5),
            FieldValue::Bool(true),
            FieldValue::Bool(false),
            FieldValue::String(&[b'v'; 300]),
        ];
        let mut b = MessageBuilder::with_capacity(0);
        b.uuid(&[7; 16]);
        b.timestamp(-5);
        b.r#type(b"nginx.access");
        b.logger(b"access");
        b.severity(-1);
        b.payload(b"GET / 200");
        b.env_version(b"0.8");
        b.pid(1 << 20);
        b.hostname(b"h");
        b.encoded_fields(&extra).unwrap();
        let before = b.len();
        let mut expected = 0;
        for (i, v) in values.iter().enumerate() {
            let head = [&status, &bytes, &long][i % 3];
            expected += MessageBuilder::field_len(head, v);
            b.field(head, *v);
        }
        assert_eq!(b.len() - before, expected, "field_len adds up");
        let built = b.finish().unwrap();
        let decoded = MessageView::decode(built.raw().clone()).unwrap();
        assert_eq!(built, decoded, "the index matches a parse of the bytes");
        // And prost reads the same message.
        let m = Message::decode(built.raw().clone()).unwrap();
        // Two foreign fields first, then `values` in order.
        assert_eq!(m.fields[2 + 2].value_integer, [-3]);
        assert_eq!(m.fields[2 + 4].value_double, [2.5]);
        assert_eq!(m.fields[2 + 1].representation.as_deref(), Some(&b"B"[..]));
        assert_eq!(
            built.field_value(b"status", 1, 0),
            Some(FieldValue::Integer(1 << 40))
        );
    }

    #[test]
    fn a_buffer_of_the_exact_size_never_grows() {
        let [status, bytes, _] = heads();
        let write = |b: &mut MessageBuilder| {
            b.uuid(&[1; 16]);
            b.timestamp(i64::MAX);
            b.r#type(&[b't'; 200]);
            b.severity(-1);
            b.pid(7);
            b.field(&status, FieldValue::String(b"200"));
            b.field(&bytes, FieldValue::Integer(-1));
            b.encoded_fields(&[0x52, 0x03, 0x0a, 0x01, b'x']).unwrap();
            // Last, so any slack asked for would pass the end.
            b.hostname(b"h");
        };
        let mut sizing = MessageBuilder::with_capacity(0);
        write(&mut sizing);
        let exact = sizing.len();
        let mut b = MessageBuilder::with_capacity(exact);
        let buffer = b.raw.as_ptr();
        write(&mut b);
        assert_eq!(b.raw.capacity(), exact);
        assert_eq!(b.raw.as_ptr(), buffer, "the same allocation");
    }

    #[test]
    fn field_len_is_what_field_writes() {
        for head in heads() {
            for v in [
                FieldValue::String(b""),
                FieldValue::String(&[1; 127]),
                FieldValue::String(&[1; 128]),
                FieldValue::Integer(0),
                FieldValue::Integer(-1),
                FieldValue::Double(0.0),
                FieldValue::Bool(true),
            ] {
                let mut b = MessageBuilder::with_capacity(0);
                b.field(&head, v);
                assert_eq!(b.len(), MessageBuilder::field_len(&head, &v), "{v:?}");
            }
        }
    }

    #[test]
    fn fields_copied_from_a_view_are_indexed_where_they_land() {
        let mut m = Message::new([1; 16], 2);
        m.payload = Some(Bytes::from_static(b"some payload first"));
        m.fields = vec![
            Field::string("a", "x"),
            Field::integers("n", [1, 2, 3]),
            Field::double("d", 0.5).with_representation("s"),
            Field::string("empty", ""),
        ];
        m.fields[3].value_string.clear();
        let from = MessageView::from_message(&m).unwrap();
        let mut b = MessageBuilder::with_capacity(0);
        b.r#type(b"moved along");
        b.fields_of(&from);
        let built = b.finish().unwrap();
        assert_eq!(built, MessageView::decode(built.raw().clone()).unwrap());
        let fields: Vec<Field> = built.fields().map(|f| f.to_field()).collect();
        assert_eq!(fields, m.fields);
    }

    #[test]
    fn varint_len_matches_prost() {
        for shift in 0..64 {
            for v in [1u64 << shift, (1u64 << shift) - 1] {
                assert_eq!(varint_len(v), prost::encoding::encoded_len_varint(v), "{v}");
            }
        }
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn foreign_entries_are_validated_with_their_offset() {
        let mut b = MessageBuilder::with_capacity(0);
        b.r#type(b"t");
        // A field whose name claims 5 bytes but has 1.
        let err = b
            .encoded_fields(&[0x52, 0x03, 0x0a, 0x05, b'x'])
            .unwrap_err();
        assert_eq!(err.offset, 3 + 4);
        let err = b.encoded_fields(&[0x1a, 0x00]).unwrap_err();
        assert_eq!(err.kind, WireErrorKind::NotAField(3));
    }
}
