//! Reading and building messages: field lookup by name, field index and array
//! index (the addressing of `Fields[name][fi][ai]` in matchers and of
//! `read_message` in Lua), typed values, field constructors and the UUID text
//! form. Used by decoders, the matcher, the sandboxes and the tools.

use bytes::Bytes;
use prost::Message as _;

use crate::message::{Field, Message, field::ValueType};

/// Length of the hyphenated text form of a UUID (`8-4-4-4-12`).
pub const UUID_TEXT_LEN: usize = 36;

/// Decodes a protobuf `Message`. String and bytes fields become slices of
/// `bytes` (no copy); see the crate docs for the rules kept from Heka.
pub fn decode_message(bytes: Bytes) -> Result<Message, prost::DecodeError> {
    Message::decode(bytes)
}

/// The hyphenated lowercase text form of a 16-byte UUID (`8-4-4-4-12`),
/// or `None` for any other length.
pub fn uuid_text(uuid: &[u8]) -> Option<[u8; UUID_TEXT_LEN]> {
    let bytes: &[u8; 16] = uuid.try_into().ok()?;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; UUID_TEXT_LEN];
    let mut at = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 0x0f)];
        at += 2;
    }
    Some(out)
}

/// One value of a field, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// A `value_string` entry (bytes, as on the wire).
    String(&'a [u8]),
    /// A `value_bytes` entry.
    Bytes(&'a [u8]),
    /// A `value_integer` entry.
    Integer(i64),
    /// A `value_double` entry.
    Double(f64),
    /// A `value_bool` entry.
    Bool(bool),
}

impl Message {
    /// A message with the two required headers set and everything else unset
    /// (so severity reads as its default, 7).
    pub fn new(uuid: [u8; 16], timestamp: i64) -> Self {
        Message {
            uuid: Bytes::copy_from_slice(&uuid),
            timestamp,
            ..Message::default()
        }
    }

    /// The `field_index`-th field named `name` (0 is the first), as
    /// `Fields[name][field_index]` addresses it.
    pub fn field(&self, name: &[u8], field_index: usize) -> Option<&Field> {
        self.fields
            .iter()
            .filter(|f| f.name.as_ref() == name)
            .nth(field_index)
    }

    /// The value at `Fields[name][field_index][array_index]`, if it exists.
    pub fn field_value(
        &self,
        name: &[u8],
        field_index: usize,
        array_index: usize,
    ) -> Option<FieldValue<'_>> {
        self.field(name, field_index)?.value(array_index)
    }

    /// The UUID in its hyphenated lowercase text form, or `None` when the
    /// uuid is not exactly 16 bytes (Heka then shows an empty string).
    pub fn uuid_text(&self) -> Option<[u8; UUID_TEXT_LEN]> {
        uuid_text(&self.uuid)
    }

    /// The UUID text form as a `String` (empty when the uuid is malformed).
    pub fn uuid_string(&self) -> String {
        self.uuid_text()
            .map(|t| t.iter().map(|&b| char::from(b)).collect())
            .unwrap_or_default()
    }
}

impl Field {
    fn with_type(name: &str, value_type: ValueType) -> Self {
        Field {
            name: Bytes::copy_from_slice(name.as_bytes()),
            value_type: Some(value_type as i32),
            ..Field::default()
        }
    }

    /// A STRING field with one value.
    pub fn string(name: &str, value: impl AsRef<[u8]>) -> Self {
        let mut f = Self::with_type(name, ValueType::String);
        f.value_string.push(Bytes::copy_from_slice(value.as_ref()));
        f
    }

    /// A BYTES field with one value.
    pub fn bytes(name: &str, value: impl AsRef<[u8]>) -> Self {
        let mut f = Self::with_type(name, ValueType::Bytes);
        f.value_bytes.push(Bytes::copy_from_slice(value.as_ref()));
        f
    }

    /// An INTEGER field with the given values.
    pub fn integers(name: &str, values: impl IntoIterator<Item = i64>) -> Self {
        let mut f = Self::with_type(name, ValueType::Integer);
        f.value_integer.extend(values);
        f
    }

    /// An INTEGER field with one value.
    pub fn integer(name: &str, value: i64) -> Self {
        Self::integers(name, [value])
    }

    /// A DOUBLE field with one value.
    pub fn double(name: &str, value: f64) -> Self {
        let mut f = Self::with_type(name, ValueType::Double);
        f.value_double.push(value);
        f
    }

    /// A BOOL field with one value.
    pub fn boolean(name: &str, value: bool) -> Self {
        let mut f = Self::with_type(name, ValueType::Bool);
        f.value_bool.push(value);
        f
    }

    /// Sets the representation (unit or format hint).
    pub fn with_representation(mut self, representation: &str) -> Self {
        self.representation = Some(Bytes::copy_from_slice(representation.as_bytes()));
        self
    }

    /// The declared value type, or `None` for a number outside the enum
    /// (such a field matches nothing, as in Heka).
    pub fn kind(&self) -> Option<ValueType> {
        ValueType::try_from(self.value_type.unwrap_or(0)).ok()
    }

    /// Number of values in the array selected by the value type.
    pub fn value_count(&self) -> usize {
        match self.kind() {
            Some(ValueType::String) => self.value_string.len(),
            Some(ValueType::Bytes) => self.value_bytes.len(),
            Some(ValueType::Integer) => self.value_integer.len(),
            Some(ValueType::Double) => self.value_double.len(),
            Some(ValueType::Bool) => self.value_bool.len(),
            None => 0,
        }
    }

    /// The value at `array_index` in the array selected by the value type.
    pub fn value(&self, array_index: usize) -> Option<FieldValue<'_>> {
        let i = array_index;
        Some(match self.kind()? {
            ValueType::String => FieldValue::String(self.value_string.get(i)?),
            ValueType::Bytes => FieldValue::Bytes(self.value_bytes.get(i)?),
            ValueType::Integer => FieldValue::Integer(*self.value_integer.get(i)?),
            ValueType::Double => FieldValue::Double(*self.value_double.get(i)?),
            ValueType::Bool => FieldValue::Bool(*self.value_bool.get(i)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        let mut m = Message::new(
            *b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
            5,
        );
        m.fields = vec![
            Field::string("foo", "bar"),
            Field::integers("n", [1, 2, 3]),
            Field::string("foo", "alternate"),
            Field::boolean("b", true),
        ];
        m
    }

    #[test]
    fn uuid_text_is_hyphenated_lowercase() {
        let m = sample();
        assert_eq!(m.uuid_string(), "00010203-0405-0607-0809-0a0b0c0d0e0f");
        let short = Message {
            uuid: Bytes::from_static(b"short"),
            ..Message::default()
        };
        assert_eq!(short.uuid_text(), None);
        assert_eq!(short.uuid_string(), "");
    }

    #[test]
    fn fields_are_addressed_by_name_field_index_and_array_index() {
        let m = sample();
        assert_eq!(
            m.field_value(b"foo", 0, 0),
            Some(FieldValue::String(b"bar"))
        );
        assert_eq!(
            m.field_value(b"foo", 1, 0),
            Some(FieldValue::String(b"alternate"))
        );
        assert_eq!(m.field_value(b"foo", 2, 0), None);
        assert_eq!(m.field_value(b"n", 0, 2), Some(FieldValue::Integer(3)));
        assert_eq!(m.field_value(b"n", 0, 3), None);
        assert_eq!(m.field_value(b"b", 0, 0), Some(FieldValue::Bool(true)));
        assert_eq!(m.field_value(b"missing", 0, 0), None);
    }

    #[test]
    fn a_value_type_outside_the_enum_has_no_values() {
        let mut f = Field::integer("x", 1);
        f.value_type = Some(9);
        assert_eq!(f.kind(), None);
        assert_eq!(f.value(0), None);
        assert_eq!(f.value_count(), 0);
    }

    #[test]
    fn unset_severity_reads_as_seven() {
        assert_eq!(Message::default().severity(), 7);
        assert_eq!(Message::default().pid(), 0);
    }
}
