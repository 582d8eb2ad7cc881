//! Heka stream framing over a byte slice: `0x1E | hlen | Header | 0x1F | message`.
//!
//! This is the record format of TCP and UDP streams, protobuf files and disk
//! queues. [`scan`] looks at the start of a buffer and says whether a whole
//! record is there, how many leading bytes can never belong to one (garbage,
//! bad headers, oversized announcements), or that more data is needed. It
//! never allocates for data it skips and never reads past `max_record_size`,
//! so a hostile stream cannot make a reader buffer without bound.
//! [`encode_frame`] writes records, signed or not.

use std::ops::Range;

use bytes::BufMut;
use prost::Message as _;

use crate::message::Header;
use crate::signing::SigningKey;
use crate::wire::{Cursor, LEN, RECURSION_LIMIT, VARINT, WireError};

/// First byte of every record.
pub const RECORD_SEPARATOR: u8 = 0x1E;
/// Byte between the header and the message.
pub const UNIT_SEPARATOR: u8 = 0x1F;
/// Bytes of framing around the header: separator, length byte, unit separator.
pub const HEADER_FRAMING_SIZE: usize = 3;
/// The header length is one byte.
pub const MAX_HEADER_SIZE: usize = 255;
/// Heka's default `max_message_size` (64 KiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// The largest record a reader accepts for a given message size limit.
pub const fn max_record_size(max_message_size: usize) -> usize {
    HEADER_FRAMING_SIZE + MAX_HEADER_SIZE + max_message_size
}

/// A whole record found at the start of a buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The decoded header.
    pub header: Header,
    /// Length of the encoded header (the `hlen` byte).
    pub header_len: usize,
}

impl Frame {
    /// Where the message bytes are, relative to the record's first byte.
    pub fn message_range(&self) -> Range<usize> {
        let start = self.header_len + HEADER_FRAMING_SIZE;
        start..start + self.header.message_length as usize
    }

    /// Length of the whole record.
    pub fn len(&self) -> usize {
        self.message_range().end
    }

    /// Always false: a record has at least its framing bytes.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Why bytes were skipped while looking for a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SkipReason {
    /// Bytes before the next record separator.
    #[error("data before a record separator")]
    Garbage,
    /// The byte after the header is not the unit separator.
    #[error("header of {0} bytes is not followed by a unit separator")]
    NoUnitSeparator(usize),
    /// The header does not decode.
    #[error("header does not decode: {0}")]
    BadHeader(HeaderError),
    /// The header announces a message over the size limit.
    #[error("message of {size} bytes exceeds the maximum message size of {limit} bytes")]
    TooLarge {
        /// Announced message length.
        size: usize,
        /// The configured `max_message_size`.
        limit: usize,
    },
    /// The stream ended inside a record.
    #[error("the stream ended inside a record")]
    Truncated,
}

/// What [`scan`] found at the start of a buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Scan {
    /// A whole record starts at the first byte.
    Record(Frame),
    /// The first `len` bytes can never be part of a record: drop them and scan again.
    Skip {
        /// How many bytes to drop.
        len: usize,
        /// Why.
        reason: SkipReason,
    },
    /// The buffer is empty or holds the start of a record: read more.
    NeedMore {
        /// The record's full length when the header has been read already.
        record_len: Option<usize>,
    },
}

/// Finds the record at the start of `buf`, following Heka's HekaFramingSplitter:
/// bytes before a record separator are garbage; a header that is malformed or
/// announces more than `max_message_size` bytes invalidates only its separator
/// byte, and scanning resumes after it.
pub fn scan(buf: &[u8], max_message_size: usize) -> Scan {
    let Some(&first) = buf.first() else {
        return Scan::NeedMore { record_len: None };
    };
    if first != RECORD_SEPARATOR {
        let len = memchr::memchr(RECORD_SEPARATOR, &buf[1..]).map_or(buf.len(), |i| i + 1);
        return Scan::Skip {
            len,
            reason: SkipReason::Garbage,
        };
    }
    let Some(&hlen) = buf.get(1) else {
        return Scan::NeedMore { record_len: None };
    };
    let header_len = usize::from(hlen);
    let header_end = 2 + header_len;
    let Some(&us) = buf.get(header_end) else {
        return Scan::NeedMore { record_len: None };
    };
    let skip = |reason| Scan::Skip { len: 1, reason };
    if us != UNIT_SEPARATOR {
        return skip(SkipReason::NoUnitSeparator(header_len));
    }
    let header = match decode_header(&buf[2..header_end]) {
        Ok(h) => h,
        Err(e) => return skip(SkipReason::BadHeader(e)),
    };
    let size = header.message_length as usize;
    if size > max_message_size {
        return skip(SkipReason::TooLarge {
            size,
            limit: max_message_size,
        });
    }
    let frame = Frame { header, header_len };
    if buf.len() < frame.len() {
        return Scan::NeedMore {
            record_len: Some(frame.len()),
        };
    }
    Scan::Record(frame)
}

/// Why a header did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The header is not valid protobuf for Heka's `Header`.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The required `message_length` is missing.
    #[error("message_length is missing")]
    NoLength,
}

/// Decodes a framing header strictly: unlike a plain protobuf decode, a
/// missing `message_length` is an error (Go's decoder enforced `required`
/// here, and a record without a length cannot be delimited).
pub fn decode_header(buf: &[u8]) -> Result<Header, HeaderError> {
    let mut header = Header::default();
    let mut has_length = false;
    let mut c = Cursor::new(buf, 0);
    while !c.at_end() {
        let (field, wire) = c.key()?;
        match field {
            1 | 3 | 5 => {
                c.expect(field, wire, VARINT)?;
                let v = c.varint()?;
                // uint32 fields keep the low 32 bits, as protobuf does.
                match field {
                    1 => {
                        header.message_length = v as u32;
                        has_length = true;
                    }
                    3 => header.hmac_hash_function = Some(v as i32),
                    _ => header.hmac_key_version = Some(v as u32),
                }
            }
            4 | 6 => {
                c.expect(field, wire, LEN)?;
                let bytes = bytes::Bytes::copy_from_slice(&buf[c.delimited()?]);
                if field == 4 {
                    header.hmac_signer = Some(bytes);
                } else {
                    header.hmac = Some(bytes);
                }
            }
            _ => c.skip(wire, field, RECURSION_LIMIT)?,
        }
    }
    if has_length {
        Ok(header)
    } else {
        Err(HeaderError::NoLength)
    }
}

/// Why a record could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message is larger than the configured maximum.
    #[error("message of {size} bytes exceeds the maximum message size of {limit} bytes")]
    TooLarge {
        /// Message length.
        size: usize,
        /// The configured `max_message_size`.
        limit: usize,
    },
    /// The header (with its signer name) is longer than 255 bytes.
    #[error("header of {0} bytes exceeds the 255-byte limit (signer name too long?)")]
    HeaderTooLarge(usize),
}

/// Appends one record holding `message` to `out`, signed when `key` is given.
/// Refuses messages over `max_message_size` and headers over 255 bytes, as
/// Heka's writers do; nothing is written on error.
pub fn encode_frame(
    message: &[u8],
    key: Option<&SigningKey>,
    max_message_size: usize,
    out: &mut impl BufMut,
) -> Result<(), EncodeError> {
    if message.len() > max_message_size || u32::try_from(message.len()).is_err() {
        return Err(EncodeError::TooLarge {
            size: message.len(),
            limit: max_message_size,
        });
    }
    let mut header = Header {
        message_length: message.len() as u32,
        ..Header::default()
    };
    if let Some(key) = key {
        key.sign(&mut header, message);
    }
    let header_len = header.encoded_len();
    let hlen = u8::try_from(header_len).map_err(|_| EncodeError::HeaderTooLarge(header_len))?;
    out.put_u8(RECORD_SEPARATOR);
    out.put_u8(hlen);
    header
        .encode(out)
        .expect("BufMut targets used for framing grow on demand");
    out.put_u8(UNIT_SEPARATOR);
    out.put_slice(message);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(message, None, DEFAULT_MAX_MESSAGE_SIZE, &mut out).unwrap();
        out
    }

    #[test]
    fn a_whole_record_is_found() {
        let rec = record(b"hello");
        let Scan::Record(frame) = scan(&rec, 1024) else {
            panic!("no record in {rec:02x?}");
        };
        assert_eq!(frame.len(), rec.len());
        assert_eq!(&rec[frame.message_range()], b"hello");
    }

    #[test]
    fn every_prefix_of_a_record_needs_more() {
        let rec = record(b"hello world");
        for cut in 0..rec.len() {
            assert!(
                matches!(scan(&rec[..cut], 1024), Scan::NeedMore { .. }),
                "prefix of {cut} bytes"
            );
        }
        assert_eq!(
            scan(&rec[..6], 1024),
            Scan::NeedMore {
                record_len: Some(rec.len())
            }
        );
    }

    #[test]
    fn garbage_is_skipped_up_to_the_next_separator() {
        let mut buf = b"noise".to_vec();
        buf.extend(record(b"x"));
        assert_eq!(
            scan(&buf, 1024),
            Scan::Skip {
                len: 5,
                reason: SkipReason::Garbage
            }
        );
        assert_eq!(
            scan(b"all noise", 1024),
            Scan::Skip {
                len: 9,
                reason: SkipReason::Garbage
            }
        );
    }

    #[test]
    fn an_oversized_announcement_skips_its_separator_only() {
        let rec = record(&[7u8; 2000]);
        assert_eq!(
            scan(&rec, 1024),
            Scan::Skip {
                len: 1,
                reason: SkipReason::TooLarge {
                    size: 2000,
                    limit: 1024
                }
            }
        );
        // Exactly at the limit is accepted.
        assert!(matches!(scan(&rec, 2000), Scan::Record(_)));
    }

    #[test]
    fn malformed_headers_are_skipped() {
        // Missing unit separator.
        assert!(matches!(
            scan(&[0x1e, 0x02, 0x08, 0x01, 0x00, 0x41], 1024),
            Scan::Skip {
                len: 1,
                reason: SkipReason::NoUnitSeparator(2)
            }
        ));
        // Empty header: no message_length.
        assert!(matches!(
            scan(&[0x1e, 0x00, 0x1f], 1024),
            Scan::Skip {
                reason: SkipReason::BadHeader(HeaderError::NoLength),
                ..
            }
        ));
        // message_length with a length-delimited wire type.
        assert!(matches!(
            scan(&[0x1e, 0x02, 0x0a, 0x00, 0x1f], 1024),
            Scan::Skip {
                reason: SkipReason::BadHeader(HeaderError::Wire(WireError {
                    kind: crate::wire::WireErrorKind::UnexpectedWireType { field: 1, .. },
                    ..
                })),
                ..
            }
        ));
    }

    #[test]
    fn headers_skip_unknown_fields_and_keep_known_ones() {
        // message_length=3, unknown field 9 (varint), unknown field 10 (bytes).
        let h = decode_header(&[0x08, 0x03, 0x48, 0x01, 0x52, 0x01, 0xff]).unwrap();
        assert_eq!(h.message_length, 3);
        assert!(matches!(decode_header(&[0x08]), Err(HeaderError::Wire(_))));
    }

    #[test]
    fn writers_refuse_what_readers_would() {
        let mut out = Vec::new();
        assert_eq!(
            encode_frame(&[0; 11], None, 10, &mut out),
            Err(EncodeError::TooLarge {
                size: 11,
                limit: 10
            })
        );
        let key = SigningKey {
            signer: "s".repeat(300),
            version: 0,
            hash: crate::HmacHashFunction::Md5,
            key: vec![],
        };
        assert!(matches!(
            encode_frame(b"m", Some(&key), 10, &mut out),
            Err(EncodeError::HeaderTooLarge(_))
        ));
        assert!(out.is_empty());
    }
}
