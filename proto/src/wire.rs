//! Protobuf wire-level reading over a byte slice: varints, keys, skipping
//! unknown fields. Used where decoding must not allocate (the message view,
//! framing headers). Every rule matches prost's decoder, so a byte string is
//! accepted here exactly when prost accepts it (a property test checks it).

use std::ops::Range;

/// How deep groups of unknown fields may nest, as in prost.
pub(crate) const RECURSION_LIMIT: u32 = 100;

/// Protobuf wire types.
pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const START_GROUP: u8 = 3;
pub(crate) const END_GROUP: u8 = 4;
pub(crate) const FIXED32: u8 = 5;

/// Why bytes are not a valid protobuf message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireErrorKind {
    /// The data ends inside a field.
    #[error("truncated")]
    Truncated,
    /// A varint longer than 10 bytes or over 64 bits.
    #[error("invalid varint")]
    InvalidVarint,
    /// A key over 32 bits.
    #[error("invalid key")]
    InvalidKey,
    /// Field number 0.
    #[error("invalid field number 0")]
    InvalidTag,
    /// Wire type 6 or 7.
    #[error("invalid wire type {0}")]
    InvalidWireType(u8),
    /// A known field with a wire type its type does not allow.
    #[error("field {field} has wire type {wire_type}")]
    UnexpectedWireType {
        /// Field number.
        field: u32,
        /// Wire type found.
        wire_type: u8,
    },
    /// Where only `Fields` entries (field 10) may be, another field.
    #[error("field {0} where only Fields entries may be")]
    NotAField(u32),
    /// An end-group marker without its start.
    #[error("unexpected end of group")]
    UnexpectedEndGroup,
    /// Groups nested deeper than the recursion limit.
    #[error("groups nested too deeply")]
    RecursionLimit,
    /// A length-delimited value overruns its enclosing message.
    #[error("length exceeds the enclosing message")]
    LengthExceeded,
}

/// A decoding error and the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct WireError {
    /// Offset in the message bytes.
    pub offset: usize,
    /// What is wrong.
    pub kind: WireErrorKind,
}

/// A reading position in a protobuf byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the whole message, for error offsets.
    base: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Cursor { buf, pos: 0, base }
    }

    /// The reading position in the slice.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Moves the reading position.
    pub(crate) fn seek(&mut self, pos: usize) {
        self.pos = pos;
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn error(&self, kind: WireErrorKind) -> WireError {
        WireError {
            offset: self.base + self.pos,
            kind,
        }
    }

    /// A varint, with prost's limits: at most 10 bytes and 64 bits.
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        // Keys and short lengths are one byte: the common case stays inline.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_long()
    }

    #[inline(never)]
    fn varint_long(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos + i) else {
                return Err(self.error(WireErrorKind::Truncated));
            };
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == 9 && b >= 0x02 {
                    break;
                }
                self.pos += i + 1;
                return Ok(value);
            }
        }
        Err(self.error(WireErrorKind::InvalidVarint))
    }

    /// A field key: (field number, wire type).
    #[inline(always)]
    pub(crate) fn key(&mut self) -> Result<(u32, u8), WireError> {
        let at = self.pos;
        let key = self.varint()?;
        match u32::try_from(key) {
            Ok(key) if key & 7 <= u32::from(FIXED32) && key >> 3 != 0 => {
                Ok((key >> 3, (key & 7) as u8))
            }
            _ => Err(self.bad_key(key, at)),
        }
    }

    #[cold]
    #[inline(never)]
    fn bad_key(&self, key: u64, at: usize) -> WireError {
        let kind = if key > u64::from(u32::MAX) {
            WireErrorKind::InvalidKey
        } else if key & 7 > u64::from(FIXED32) {
            WireErrorKind::InvalidWireType((key & 7) as u8)
        } else {
            WireErrorKind::InvalidTag
        };
        WireError {
            offset: self.base + at,
            kind,
        }
    }

    /// Fails unless a known field has the wire type its type needs.
    pub(crate) fn expect(&self, field: u32, wire_type: u8, expected: u8) -> Result<(), WireError> {
        if wire_type == expected {
            Ok(())
        } else {
            Err(self.error(WireErrorKind::UnexpectedWireType { field, wire_type }))
        }
    }

    /// A length-delimited value: its range in the cursor's slice.
    #[inline(always)]
    pub(crate) fn delimited(&mut self) -> Result<Range<usize>, WireError> {
        let len = self.varint()?;
        let start = self.pos;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.error(WireErrorKind::Truncated))?;
        self.pos = end;
        Ok(start..end)
    }

    /// Eight little-endian bytes.
    pub(crate) fn fixed64(&mut self) -> Result<u64, WireError> {
        let bytes = self
            .buf
            .get(self.pos..self.pos + 8)
            .ok_or_else(|| self.error(WireErrorKind::Truncated))?;
        self.pos += 8;
        Ok(u64::from_le_bytes(bytes.try_into().expect("eight bytes")))
    }

    /// Skips the value of an unknown field, as prost's `skip_field` does;
    /// `depth` is the remaining recursion budget.
    pub(crate) fn skip(&mut self, wire_type: u8, field: u32, depth: u32) -> Result<(), WireError> {
        if depth == 0 {
            return Err(self.error(WireErrorKind::RecursionLimit));
        }
        match wire_type {
            VARINT => {
                self.varint()?;
            }
            FIXED64 => self.advance(8)?,
            FIXED32 => self.advance(4)?,
            LEN => {
                self.delimited()?;
            }
            START_GROUP => loop {
                let (inner, inner_wire) = self.key()?;
                if inner_wire == END_GROUP {
                    if inner != field {
                        return Err(self.error(WireErrorKind::UnexpectedEndGroup));
                    }
                    break;
                }
                self.skip(inner_wire, inner, depth - 1)?;
            },
            _ => return Err(self.error(WireErrorKind::UnexpectedEndGroup)),
        }
        Ok(())
    }

    /// Like [`skip`](Self::skip), with the common wire types inline: for
    /// walks over data that was validated already.
    #[inline(always)]
    pub(crate) fn skip_validated(&mut self, wire_type: u8, field: u32) -> Result<(), WireError> {
        match wire_type {
            VARINT => self.varint().map(drop),
            LEN => self.delimited().map(drop),
            FIXED64 => self.advance(8),
            _ => self.skip(wire_type, field, RECURSION_LIMIT),
        }
    }

    #[inline(always)]
    fn advance(&mut self, n: usize) -> Result<(), WireError> {
        if self.buf.len() - self.pos < n {
            return Err(self.error(WireErrorKind::Truncated));
        }
        self.pos += n;
        Ok(())
    }

    /// Steps over a packed run of `value` in `range`: the run must end
    /// exactly at the range's end.
    pub(crate) fn packed(
        &self,
        range: Range<usize>,
        mut each: impl FnMut(&mut Cursor<'a>) -> Result<(), WireError>,
    ) -> Result<(), WireError> {
        let mut inner = Cursor::new(&self.buf[range.clone()], self.base + range.start);
        while !inner.at_end() {
            each(&mut inner).map_err(|e| match e.kind {
                WireErrorKind::Truncated => WireError {
                    kind: WireErrorKind::LengthExceeded,
                    ..e
                },
                _ => e,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint_of(bytes: &[u8]) -> Result<u64, WireErrorKind> {
        Cursor::new(bytes, 0).varint().map_err(|e| e.kind)
    }

    #[test]
    fn varints_follow_prosts_limits() {
        assert_eq!(varint_of(&[0x05]), Ok(5));
        assert_eq!(varint_of(&[0xac, 0x02]), Ok(300));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(varint_of(&max), Ok(u64::MAX));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(varint_of(&over), Err(WireErrorKind::InvalidVarint));
        assert_eq!(varint_of(&[0x80; 11]), Err(WireErrorKind::InvalidVarint));
        assert_eq!(varint_of(&[0x80, 0x80]), Err(WireErrorKind::Truncated));
    }

    #[test]
    fn keys_reject_field_zero_and_wire_types_six_and_seven() {
        assert_eq!(Cursor::new(&[0x08], 0).key(), Ok((1, VARINT)));
        assert_eq!(
            Cursor::new(&[0x02], 0).key().unwrap_err().kind,
            WireErrorKind::InvalidTag
        );
        assert_eq!(
            Cursor::new(&[0x0e], 0).key().unwrap_err().kind,
            WireErrorKind::InvalidWireType(6)
        );
    }

    #[test]
    fn groups_are_skipped_to_their_matching_end() {
        // Group 3 holding field 1 = 5, then its end marker, then field 2 = 1.
        let mut c = Cursor::new(&[0x08, 0x05, 0x1c, 0x10, 0x01], 0);
        c.skip(START_GROUP, 3, RECURSION_LIMIT).unwrap();
        assert_eq!(c.key(), Ok((2, VARINT)));
        let mut wrong = Cursor::new(&[0x24], 0);
        assert_eq!(
            wrong
                .skip(START_GROUP, 3, RECURSION_LIMIT)
                .unwrap_err()
                .kind,
            WireErrorKind::UnexpectedEndGroup
        );
    }
}
