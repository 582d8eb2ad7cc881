//! The message view must accept exactly what prost accepts and read exactly
//! what prost decodes: checked on arbitrary bytes, on valid messages, and on
//! valid messages with one byte changed, cut or inserted.

use bytes::Bytes;
use heka_proto::prost::Message as _;
use heka_proto::{Field, FieldValue, Message, MessageView};
use proptest::prelude::*;

/// A field value with doubles as their bit patterns, so NaN compares equal
/// to itself.
fn bits(v: Option<FieldValue<'_>>) -> Option<Result<FieldValue<'_>, u64>> {
    v.map(|v| match v {
        FieldValue::Double(d) => Err(d.to_bits()),
        other => Ok(other),
    })
}

/// Asserts that the view and prost agree on `bytes`.
fn agree(bytes: &[u8]) -> Result<(), TestCaseError> {
    let prost = Message::decode(bytes);
    let view = MessageView::decode(Bytes::copy_from_slice(bytes));
    match (prost, view) {
        (Err(_), Err(_)) => Ok(()),
        (Ok(p), Ok(v)) => {
            // Compared as encoded bytes: a damaged double may read as NaN,
            // which `==` never equals.
            prop_assert_eq!(v.to_message().encode_to_vec(), p.encode_to_vec());
            prop_assert_eq!(v.uuid(), &p.uuid[..]);
            prop_assert_eq!(v.timestamp(), p.timestamp);
            prop_assert_eq!(v.r#type(), p.r#type());
            prop_assert_eq!(v.logger(), p.logger());
            prop_assert_eq!(v.payload(), p.payload());
            prop_assert_eq!(v.env_version(), p.env_version());
            prop_assert_eq!(v.hostname(), p.hostname());
            prop_assert_eq!(v.severity(), p.severity());
            prop_assert_eq!(v.pid(), p.pid());
            prop_assert_eq!(v.fields().count(), p.fields.len());
            for (fv, f) in v.fields().zip(&p.fields) {
                prop_assert_eq!(fv.name(), &f.name[..]);
                prop_assert_eq!(fv.value_type(), f.value_type.unwrap_or(0));
                prop_assert_eq!(fv.representation(), f.representation.as_deref());
                prop_assert_eq!(fv.value_count(), f.value_count());
                for ai in 0..=f.value_count() {
                    prop_assert_eq!(bits(fv.value(ai)), bits(f.value(ai)));
                }
                prop_assert_eq!(fv.to_field().encode_to_vec(), f.encode_to_vec());
            }
            Ok(())
        }
        (p, v) => Err(TestCaseError::fail(format!(
            "prost and the view disagree on {bytes:02x?}: prost {p:?}, view {v:?}"
        ))),
    }
}

fn text() -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from))
}

fn field() -> impl Strategy<Value = Field> {
    let name = "[a-c]{0,2}";
    prop_oneof![
        (name, proptest::collection::vec(any::<u8>(), 0..6))
            .prop_map(|(n, v)| Field::string(&n, v)),
        (name, proptest::collection::vec(any::<u8>(), 0..6)).prop_map(|(n, v)| Field::bytes(&n, v)),
        (name, proptest::collection::vec(any::<i64>(), 0..4))
            .prop_map(|(n, v)| Field::integers(&n, v)),
        (name, any::<f64>()).prop_map(|(n, v)| Field::double(&n, v)),
        (name, any::<bool>(), "[a-z]{0,3}")
            .prop_map(|(n, v, r)| Field::boolean(&n, v).with_representation(&r)),
        (name, -2i32..8).prop_map(|(n, t)| {
            let mut f = Field::integer(&n, 1);
            f.value_type = Some(t);
            f
        }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        any::<[u8; 16]>(),
        any::<i64>(),
        (text(), text(), text(), text(), text()),
        (
            proptest::option::of(any::<i32>()),
            proptest::option::of(any::<i32>()),
        ),
        proptest::collection::vec(field(), 0..12),
    )
        .prop_map(|(uuid, ts, (t, l, p, e, h), (sev, pid), fields)| {
            let mut m = Message::new(uuid, ts);
            (m.r#type, m.logger, m.payload, m.env_version, m.hostname) = (t, l, p, e, h);
            (m.severity, m.pid) = (sev, pid);
            m.fields = fields;
            m
        })
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Cut(usize),
    Insert(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        any::<usize>().prop_map(Mutation::Cut),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_get_the_same_verdict(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        agree(&bytes)?;
    }

    #[test]
    fn valid_messages_read_the_same(m in message()) {
        let bytes = m.encode_to_vec();
        prop_assert!(MessageView::decode(bytes.clone().into()).is_ok());
        agree(&bytes)?;
    }

    #[test]
    fn damaged_messages_get_the_same_verdict(m in message(), damage in proptest::collection::vec(mutation(), 1..3)) {
        let mut bytes = m.encode_to_vec();
        for d in damage {
            let n = bytes.len().max(1);
            match d {
                Mutation::Set(i, b) => if !bytes.is_empty() { bytes[i % n] = b },
                Mutation::Cut(i) => bytes.truncate(i % n),
                Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            }
        }
        agree(&bytes)?;
    }
}

#[test]
fn deeply_nested_groups_hit_the_same_limit() {
    // An unknown field 15 holding groups nested `depth` deep.
    let nested = |depth: usize| {
        let mut b = vec![0x7b; depth]; // start group 15
        b.extend(std::iter::repeat_n(0x7c, depth)); // end group 15
        b
    };
    for depth in [1, 98, 99, 100, 101, 150] {
        agree(&nested(depth)).unwrap();
        // The same inside a field.
        let inner = nested(depth);
        let mut field = vec![0x0a, 0x01, b'x'];
        field.extend(&inner);
        let mut m = vec![0x52];
        let mut len = field.len();
        while len >= 0x80 {
            m.push((len as u8) | 0x80);
            len >>= 7;
        }
        m.push(len as u8);
        m.extend(field);
        agree(&m).unwrap();
    }
}

#[test]
fn nan_doubles_read_the_same() {
    let mut m = Message::new([7; 16], 1);
    m.fields = vec![
        Field::double("nan", f64::NAN),
        Field::double("neg", -f64::NAN),
    ];
    agree(&m.encode_to_vec()).unwrap();
    // A NaN with payload bits, as damaged input produces.
    let mut odd = m.encode_to_vec();
    let at = odd.len() - 8; // lowest mantissa byte of the last double
    odd[at] ^= 0x01;
    agree(&odd).unwrap();
}

#[test]
fn nesting_far_past_the_limit_is_rejected_without_overflowing_the_stack() {
    // 100 000 start-group tags, in the message and inside a field: both
    // readers stop at their recursion limit instead of recursing on.
    let deep = vec![0x7b; 100_000];
    agree(&deep).unwrap();
    assert!(MessageView::decode(Bytes::from(deep.clone())).is_err());
    let mut m = vec![0x52, 0xa3, 0x8d, 0x06, 0x0a, 0x01, b'x']; // field of 100 003 bytes
    m.extend(&deep);
    agree(&m).unwrap();
}

#[test]
fn lengths_announcing_more_than_there_is_are_rejected() {
    // Length prefixes up to u64::MAX, on a header and inside a field: no
    // allocation by announced size, no arithmetic overflow.
    for len in [
        &[0x80, 0x80, 0x80, 0x80, 0x10][..],
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        // An over-long varint (11 bytes).
        &[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ],
    ] {
        let mut payload = vec![0x32];
        payload.extend(len);
        payload.extend(b"short");
        agree(&payload).unwrap();
        assert!(MessageView::decode(Bytes::from(payload)).is_err());
        let mut inner = vec![0x0a, 0x01, b'n', 0x22];
        inner.extend(len);
        inner.extend(b"short");
        let mut field = vec![0x52, inner.len() as u8];
        field.extend(inner);
        agree(&field).unwrap();
        assert!(MessageView::decode(Bytes::from(field)).is_err());
    }
}
