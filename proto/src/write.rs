//! Writing protobuf fields straight into a buffer, for code that builds a
//! message's bytes without an owned [`crate::Message`] (text records and
//! text decoders, per record): one buffer, no allocation per field.

/// Appends a length-delimited field (`string`, `bytes`, a message).
pub fn bytes_field(tag: u32, value: &[u8], out: &mut Vec<u8>) {
    out.reserve(value.len() + 8);
    delimited_header(tag, value.len(), out);
    out.extend_from_slice(value);
}

/// Appends the key and length of a length-delimited field whose `len`
/// bytes the caller writes next (an embedded message built in place).
pub fn delimited_header(tag: u32, len: usize, out: &mut Vec<u8>) {
    let mut head = [0u8; 20];
    let n = varint(u64::from(tag << 3 | 2), &mut head);
    let n = n + varint(len as u64, &mut head[n..]);
    out.extend_from_slice(&head[..n]);
}

/// Appends a varint field (`int32`/`int64`/`uint*`/`bool`/enum; negative
/// numbers as their 64-bit two's complement, as protobuf writes them).
pub fn varint_field(tag: u32, value: u64, out: &mut Vec<u8>) {
    let mut head = [0u8; 20];
    let n = varint(u64::from(tag << 3), &mut head);
    let n = n + varint(value, &mut head[n..]);
    out.extend_from_slice(&head[..n]);
}

/// Writes `value` as a varint at the start of `out` (at least 10 bytes),
/// returning its length. Per record this runs a dozen times, so it writes
/// into a stack buffer instead of pushing byte by byte into the Vec.
#[inline]
pub(crate) fn varint(mut value: u64, out: &mut [u8]) -> usize {
    let mut i = 0;
    while value >= 0x80 {
        out[i] = (value as u8) | 0x80;
        value >>= 7;
        i += 1;
    }
    out[i] = value as u8;
    i + 1
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

    #[test]
    fn varints_match_prost_at_every_length() {
        for shift in 0..64 {
            for value in [1u64 << shift, (1u64 << shift) - 1, u64::MAX >> shift] {
                let mut ours = Vec::new();
                varint_field(7, value, &mut ours);
                let mut theirs = Vec::new();
                prost::encoding::encode_key(7, prost::encoding::WireType::Varint, &mut theirs);
                prost::encoding::encode_varint(value, &mut theirs);
                assert_eq!(ours, theirs, "{value}");
            }
        }
        let long = vec![5u8; 300];
        let mut ours = Vec::new();
        bytes_field(10, &long, &mut ours);
        assert_eq!(&ours[..3], &[0x52, 0xac, 0x02]);
        assert_eq!(&ours[3..], &long[..]);
    }
}
