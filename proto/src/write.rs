//! Writing protobuf fields straight into a buffer, for code that builds a
//! message's bytes without an owned [`crate::Message`] (text records and
//! text decoders, per record): one buffer, no allocation per field.

use prost::encoding::{WireType, encode_key, encode_varint};

/// Appends a length-delimited field (`string`, `bytes`, a message).
pub fn bytes_field(tag: u32, value: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(value.len() as u64, out);
    out.extend_from_slice(value);
}

/// Appends a varint field (`int32`/`int64`/`uint*`/`bool`/enum; negative
/// numbers as their 64-bit two's complement, as protobuf writes them).
pub fn varint_field(tag: u32, value: u64, out: &mut Vec<u8>) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(value, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;
    use prost::Message as _;

    #[test]
    fn fields_written_by_hand_decode_as_prost_writes_them() {
        let mut m = Message::new([9; 16], -5);
        m.r#type = Some(bytes::Bytes::from_static(b"t"));
        m.severity = Some(-1);
        let mut out = Vec::new();
        bytes_field(1, &[9; 16], &mut out);
        varint_field(2, -5i64 as u64, &mut out);
        bytes_field(3, b"t", &mut out);
        varint_field(5, i64::from(-1i32) as u64, &mut out);
        assert_eq!(out, m.encode_to_vec());
    }
}
