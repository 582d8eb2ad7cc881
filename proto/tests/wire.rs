//! The wire contract pinned byte for byte: the encoding examples of
//! HEKA-SPEC §1.2-1.3, the decoding leniencies Heka had, and non-UTF-8 text.

use bytes::{Bytes, BytesMut};
use heka_proto::deframer::{Authentication, Deframer, Event};
use heka_proto::framing::{self, DEFAULT_MAX_MESSAGE_SIZE};
use heka_proto::signing::{Signers, SigningKey, digest};
use heka_proto::{Field, FieldValue, HmacHashFunction, Message, ValueType, decode_message};
use prost::Message as _;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

/// HEKA-SPEC §1.2: uuid 00..0f, timestamp 1400000000000000000, type TEST, severity 6.
fn spec_message() -> Message {
    let mut m = Message::new(
        *b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
        1_400_000_000_000_000_000,
    );
    m.r#type = Some(Bytes::from_static(b"TEST"));
    m.severity = Some(6);
    m
}

const SPEC_MESSAGE_HEX: &str = "0a 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f \
     10 80 80 b0 ec d1 92 f3 b6 13 1a 04 54 45 53 54 28 06";

#[test]
fn the_spec_message_encodes_to_its_36_bytes() {
    let bytes = spec_message().encode_to_vec();
    assert_eq!(bytes, hex(SPEC_MESSAGE_HEX));
    assert_eq!(bytes.len(), 36);
    assert_eq!(decode_message(bytes.into()).unwrap(), spec_message());
}

#[test]
fn a_single_unpacked_integer_decodes_and_re_encodes_packed() {
    // As the Lua sandbox writes a single number: `0x30 varint`, unpacked.
    let unpacked = hex("0a 01 6e 10 02 30 05");
    let field = Field::decode(&unpacked[..]).unwrap();
    assert_eq!(field, Field::integer("n", 5));
    // Heka's Go writer packs: `0x32 len values`.
    assert_eq!(field.encode_to_vec(), hex("0a 01 6e 10 02 32 01 05"));
}

#[test]
fn packed_and_unpacked_repeated_numbers_both_decode() {
    let cases: [(&str, Field); 6] = [
        ("0a 01 6e 10 02 30 01 30 02", Field::integers("n", [1, 2])),
        ("0a 01 6e 10 02 32 02 01 02", Field::integers("n", [1, 2])),
        (
            "0a 01 6e 10 03 39 00 00 00 00 00 00 f8 3f",
            Field::double("n", 1.5),
        ),
        (
            "0a 01 6e 10 03 3a 08 00 00 00 00 00 00 f8 3f",
            Field::double("n", 1.5),
        ),
        ("0a 01 6e 10 04 40 01", Field::boolean("n", true)),
        ("0a 01 6e 10 04 42 01 01", Field::boolean("n", true)),
    ];
    for (wire, expected) in cases {
        assert_eq!(Field::decode(&hex(wire)[..]).unwrap(), expected, "{wire}");
    }
}

#[test]
fn negative_int32_decodes_from_five_and_ten_byte_varints() {
    // severity = -1 as Go wrote it (uint32 bit pattern, 5 bytes) and as the
    // protobuf standard writes it (sign-extended, 10 bytes).
    let five = hex("28 ff ff ff ff 0f");
    let ten = hex("28 ff ff ff ff ff ff ff ff ff 01");
    assert_eq!(decode_message(five.into()).unwrap().severity(), -1);
    assert_eq!(decode_message(ten.into()).unwrap().severity(), -1);
    let pid = hex("40 fe ff ff ff 0f");
    assert_eq!(decode_message(pid.into()).unwrap().pid(), -2);
}

#[test]
fn required_fields_are_not_enforced_and_unknown_fields_are_skipped() {
    // Only a type and an unknown field 15 (varint): decodes like Go did.
    let m = decode_message(hex("1a 01 58 78 2a").into()).unwrap();
    assert_eq!(m.r#type(), b"X");
    assert!(m.uuid.is_empty());
    assert_eq!(m.timestamp, 0);
}

#[test]
fn non_utf8_text_passes_through_byte_for_byte() {
    let latin1: &[u8] = b"caf\xe9 \xff\xfe";
    let mut m = spec_message();
    m.payload = Some(Bytes::copy_from_slice(latin1));
    m.hostname = Some(Bytes::from_static(b"h\xf6st"));
    m.fields.push(Field::string("raw", latin1));
    let wire = m.encode_to_vec();
    let back = decode_message(Bytes::from(wire.clone())).unwrap();
    assert_eq!(back.payload(), latin1);
    assert_eq!(back.hostname(), b"h\xf6st");
    assert_eq!(
        back.field_value(b"raw", 0, 0),
        Some(FieldValue::String(latin1))
    );
    assert_eq!(back.encode_to_vec(), wire);
}

#[test]
fn decoded_text_shares_the_record_buffer() {
    let mut m = spec_message();
    m.payload = Some(Bytes::from_static(b"a payload that is not copied"));
    let wire = Bytes::from(m.encode_to_vec());
    let back = decode_message(wire.clone()).unwrap();
    let range = wire.as_ptr_range();
    assert!(range.contains(&back.payload().as_ptr()));
    assert!(range.contains(&back.uuid.as_ptr()));
}

#[test]
fn the_spec_unsigned_frame_is_pinned() {
    let message = hex(SPEC_MESSAGE_HEX);
    let mut out = Vec::new();
    framing::encode_frame(&message, None, DEFAULT_MAX_MESSAGE_SIZE, &mut out).unwrap();
    let mut expected = hex("1e 02 08 24 1f");
    expected.extend(&message);
    assert_eq!(out, expected);
}

#[test]
fn the_spec_signed_frame_is_pinned_and_verifies() {
    let message = hex(SPEC_MESSAGE_HEX);
    let key = SigningKey {
        signer: "ops".into(),
        version: 1,
        hash: HmacHashFunction::Md5,
        key: b"secret".to_vec(),
    };
    let mut out = Vec::new();
    framing::encode_frame(&message, Some(&key), DEFAULT_MAX_MESSAGE_SIZE, &mut out).unwrap();
    let mut expected = hex("1e 1b 08 24 22 03 6f 70 73 28 01 32 10");
    expected.extend(digest(HmacHashFunction::Md5, b"secret", &message));
    expected.push(0x1f);
    expected.extend(&message);
    assert_eq!(out, expected);
    assert_eq!(out[1], 27, "HLEN of the signed MD5 header");

    let mut signers = Signers::new();
    signers.insert_named("ops_1", "secret").unwrap();
    let mut d = Deframer::new(DEFAULT_MAX_MESSAGE_SIZE)
        .with_authentication(Authentication::Verify(signers.into()));
    let mut buf = BytesMut::from(&out[..]);
    match d.next(&mut buf) {
        Some(Event::Record(r)) => {
            assert_eq!(r.signer.as_deref(), Some(&b"ops"[..]));
            assert_eq!(r.message, message);
            assert_eq!(r.framed, out);
        }
        other => panic!("expected a record, got {other:?}"),
    }
}

#[test]
fn value_types_are_the_heka_numbers() {
    assert_eq!(ValueType::String as i32, 0);
    assert_eq!(ValueType::Bytes as i32, 1);
    assert_eq!(ValueType::Integer as i32, 2);
    assert_eq!(ValueType::Double as i32, 3);
    assert_eq!(ValueType::Bool as i32, 4);
}
