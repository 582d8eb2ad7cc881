//! One field of a [`MessageView`](super::MessageView): validating and
//! indexing it at decode time, and reading its values lazily afterwards.

use prost::Message as _;

use super::Span;
use crate::ext::FieldValue;
use crate::message::{Field, field::ValueType};
use crate::wire::{Cursor, FIXED64, LEN, RECURSION_LIMIT, VARINT, WireError};

/// Where one field is, with what every lookup needs: its name, its value
/// type and, for the common field whose values sit in a single entry, that
/// entry (so reading a value needs no walk over the field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FieldIndex {
    pub(super) body: Span,
    pub(super) name: Span,
    pub(super) value_type: i32,
    /// The payload of the first value entry (tags 4 to 8).
    pub(super) first: Span,
    /// Its field number.
    pub(super) first_tag: u8,
    /// How many value entries the field has (saturating).
    pub(super) entries: u16,
}
/// Validates one `Field` and indexes its name and value type (the last
/// occurrence of each wins, as in protobuf). `base` is its offset.
pub(super) fn index_field(body: &[u8], base: usize) -> Result<FieldIndex, WireError> {
    let mut c = Cursor::new(body, base);
    let mut index = FieldIndex {
        body: Span::of(0..body.len(), base),
        name: Span::of(0..0, base),
        value_type: 0,
        first: Span::default(),
        first_tag: 0,
        entries: 0,
    };
    while !c.at_end() {
        let (field, wire) = c.key()?;
        let start = c.position();
        match field {
            1 | 3 | 4 | 5 => {
                c.expect(field, wire, LEN)?;
                let range = c.delimited()?;
                if field == 1 {
                    index.name = Span::of(range, base);
                }
            }
            2 => {
                c.expect(field, wire, VARINT)?;
                index.value_type = c.varint()? as i32;
            }
            6 | 8 if wire == VARINT => {
                c.varint()?;
            }
            7 if wire == FIXED64 => {
                c.fixed64()?;
            }
            6 | 8 if wire == LEN => {
                let range = c.delimited()?;
                c.packed(range, |p| p.varint().map(drop))?;
            }
            7 if wire == LEN => {
                let range = c.delimited()?;
                c.packed(range, |p| p.fixed64().map(drop))?;
            }
            6 | 8 => c.expect(field, wire, VARINT)?,
            7 => c.expect(field, wire, FIXED64)?,
            // Inside a nested message prost has one level less to spend.
            _ => c.skip(wire, field, RECURSION_LIMIT - 1)?,
        }
        if (4..=8).contains(&field) {
            if index.entries == 0 {
                let payload = if wire == LEN {
                    // Past the length prefix: the string or the packed run.
                    let mut p = Cursor::new(body, base);
                    p.seek(start);
                    p.delimited()?
                } else {
                    start..c.position()
                };
                index.first = Span::of(payload, base);
                index.first_tag = field as u8;
            }
            index.entries = index.entries.saturating_add(1);
        }
    }
    Ok(index)
}
/// Reads the values of one entry: `payload` is a string, a packed run, or
/// one unpacked number's bytes. Returns whether `each` wants more.
#[inline(always)]
fn read_entry<'a>(
    kind: ValueType,
    payload: &'a [u8],
    each: &mut impl FnMut(FieldValue<'a>) -> bool,
    number: impl Fn(u64) -> FieldValue<'a>,
) -> bool {
    match kind {
        ValueType::String => return each(FieldValue::String(payload)),
        ValueType::Bytes => return each(FieldValue::Bytes(payload)),
        _ => {}
    }
    // One unpacked number, or a packed run: both read the same way.
    let mut p = Cursor::new(payload, 0);
    while !p.at_end() {
        let v = if kind == ValueType::Double {
            p.fixed64()
        } else {
            p.varint()
        };
        match v {
            Ok(v) if each(number(v)) => {}
            _ => return false,
        }
    }
    true
}

/// One field of a [`MessageView`](crate::MessageView), read lazily from the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldView<'a> {
    body: &'a [u8],
    name: &'a [u8],
    value_type: i32,
    /// The only value entry (field number, payload), when there is one.
    single: Option<(u8, &'a [u8])>,
}

impl<'a> FieldView<'a> {
    /// The field `f` indexes in the message bytes `raw`.
    pub(super) fn at(raw: &'a [u8], f: &FieldIndex) -> Self {
        FieldView {
            body: &raw[f.body.range()],
            name: &raw[f.name.range()],
            value_type: f.value_type,
            single: (f.entries == 1).then(|| (f.first_tag, &raw[f.first.range()])),
        }
    }

    /// The field name.
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// The raw value type number (0 when unset).
    pub fn value_type(&self) -> i32 {
        self.value_type
    }

    /// The value type, `None` for a number outside the enum.
    pub fn kind(&self) -> Option<ValueType> {
        ValueType::try_from(self.value_type).ok()
    }

    /// The owned prost form of this field.
    pub fn to_field(&self) -> Field {
        Field::decode(self.body).unwrap_or_default()
    }

    /// The representation, if set.
    pub fn representation(&self) -> Option<&'a [u8]> {
        let mut c = Cursor::new(self.body, 0);
        let mut found = None;
        while let Ok((field, wire)) = c.key() {
            if field == 3 && wire == LEN {
                found = c.delimited().ok().map(|r| &self.body[r]);
            } else if c.skip_validated(wire, field).is_err() {
                break;
            }
        }
        found
    }

    /// Calls `each` with the values of the array the value type selects, in
    /// order, until it returns `false`.
    #[inline]
    fn values(&self, mut each: impl FnMut(FieldValue<'a>) -> bool) {
        let Some(kind) = self.kind() else { return };
        let tag = match kind {
            ValueType::String => 4,
            ValueType::Bytes => 5,
            ValueType::Integer => 6,
            ValueType::Double => 7,
            ValueType::Bool => 8,
        };
        let number = |raw: u64| match kind {
            ValueType::Integer => FieldValue::Integer(raw as i64),
            ValueType::Double => FieldValue::Double(f64::from_bits(raw)),
            _ => FieldValue::Bool(raw != 0),
        };
        if let Some((entry_tag, payload)) = self.single {
            if u32::from(entry_tag) == tag {
                read_entry(kind, payload, &mut each, number);
            }
            return;
        }
        let mut c = Cursor::new(self.body, 0);
        // The field was validated when the message was decoded, so the
        // error paths below are never taken; they end the walk quietly.
        while let Ok((field, wire)) = c.key() {
            if field != tag {
                if c.skip_validated(wire, field).is_err() {
                    return;
                }
                continue;
            }
            let payload = match wire {
                LEN => c.delimited().map(|r| &self.body[r]),
                VARINT => {
                    let at = c.position();
                    c.varint().map(|_| &self.body[at..c.position()])
                }
                FIXED64 => {
                    let at = c.position();
                    c.fixed64().map(|_| &self.body[at..c.position()])
                }
                _ => return,
            };
            let Ok(payload) = payload else { return };
            let more = read_entry(kind, payload, &mut each, number);
            if !more {
                return;
            }
        }
    }

    /// The value at `array_index`.
    #[inline]
    pub fn value(&self, array_index: usize) -> Option<FieldValue<'a>> {
        let mut found = None;
        let mut i = 0;
        self.values(|v| {
            if i == array_index {
                found = Some(v);
                return false;
            }
            i += 1;
            true
        });
        found
    }

    /// How many values the field holds.
    pub fn value_count(&self) -> usize {
        let mut n = 0;
        self.values(|_| {
            n += 1;
            true
        });
        n
    }
}
