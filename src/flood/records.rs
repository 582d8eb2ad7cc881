//! The records heka-flood sends, made once before the first write so the
//! send loop only copies bytes into the socket.
//!
//! A [`RecordSet`] is one *cycle*: at least [`MIN_RECORDS`] framed records,
//! and enough of them to fill [`CYCLE_BYTES`], laid end to end in one buffer.
//! The sender writes whole cycles (one large `write_all` each) and a prefix
//! of one at the end, so the count sent is exact. Every record in a cycle
//! has its own UUID, payload size and content, signature and corruption;
//! the cycle then repeats, so UUIDs and timestamps repeat every
//! [`RecordSet::len`] messages. Heka's flood also reused its messages; a
//! fresh UUID per message would cost an encode (and an HMAC) per message
//! and cap the rate far below what a receiver must be tested at.

use heka_proto::framing::{self, EncodeError};
use heka_proto::prost::Message as _;
use heka_proto::signing::SigningKey;
use heka_proto::{Bytes, Field, Message};

use crate::host;

/// Fewest records in a cycle, so small counts still mix variants.
pub const MIN_RECORDS: usize = 64;
/// Bytes a cycle should fill: one write of this size per cycle.
pub const CYCLE_BYTES: usize = 256 * 1024;
/// Most records in a cycle (bounds build time for tiny messages).
const MAX_RECORDS: usize = 16 * 1024;

/// Message type of every flood message.
pub const MESSAGE_TYPE: &str = "hekabench";
/// Logger of every flood message.
pub const LOGGER: &str = "heka-flood";

/// What the records look like.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Payload bytes of each message (the mean when `variable_size`).
    pub payload_size: usize,
    /// Draw each payload size uniformly from `0..=2 * payload_size`
    /// (capped so the message fits `max_message_size`).
    pub variable_size: bool,
    /// Payloads of printable ASCII instead of random bytes.
    pub ascii_only: bool,
    /// Share of records corrupted, 0 to 100.
    pub corrupt_percentage: f64,
    /// Share of records signed, 0 to 100 (needs `signer`).
    pub signed_percentage: f64,
    /// Share of records whose message exceeds `max_message_size`, 0 to 100.
    pub oversized_percentage: f64,
    /// The signing key for signed records.
    pub signer: Option<SigningKey>,
    /// The receiver's limit: normal messages stay within it, oversized
    /// ones exceed it.
    pub max_message_size: usize,
    /// Written to each message's `test` field (the config section).
    pub test_name: String,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            payload_size: 64,
            variable_size: false,
            ascii_only: false,
            corrupt_percentage: 0.0,
            signed_percentage: 0.0,
            oversized_percentage: 0.0,
            signer: None,
            max_message_size: framing::DEFAULT_MAX_MESSAGE_SIZE,
            test_name: "default".into(),
        }
    }
}

/// How many records of a cycle are of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mix {
    /// Records signed.
    pub signed: usize,
    /// Records corrupted.
    pub corrupt: usize,
    /// Records over the size limit.
    pub oversized: usize,
}

/// One cycle of framed records; see the module docs.
#[derive(Debug, Clone)]
pub struct RecordSet {
    buf: Vec<u8>,
    /// End offset of each record in `buf`.
    ends: Vec<usize>,
    mix: Mix,
}

/// Why the records cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A normal message does not fit the limit (payload size too large).
    #[error("a {payload} byte payload does not fit max_message_size {limit}: {source}")]
    TooLarge {
        /// Payload size asked for.
        payload: usize,
        /// The limit.
        limit: usize,
        /// The framing error.
        source: EncodeError,
    },
    /// Framing failed otherwise (signer name over 255 bytes).
    #[error("cannot frame a record: {0}")]
    Encode(EncodeError),
}

impl RecordSet {
    /// Builds one cycle for `profile`.
    pub fn build(profile: &Profile) -> Result<Self, RecordError> {
        let template = template(profile);
        // The payload is the last header before the fields; whatever the
        // rest takes is the overhead a payload must leave room for (plus
        // its tag and up to five length bytes).
        let overhead = template.encoded_len() + 6;
        let fit = profile.max_message_size.saturating_sub(overhead);
        let max_payload = if profile.variable_size {
            (2 * profile.payload_size).min(fit)
        } else {
            profile.payload_size
        };
        // Oversized payloads take 1 to 2 KiB past the limit.
        let oversized_payload = profile.max_message_size + 1024;
        let pool_len = if profile.oversized_percentage > 0.0 {
            max_payload.max(oversized_payload + 1024)
        } else {
            max_payload
        };
        let pool = payload_pool(pool_len, profile.ascii_only);
        let mut set = RecordSet {
            buf: Vec::with_capacity(CYCLE_BYTES + 64 * 1024),
            ends: Vec::new(),
            mix: Mix::default(),
        };
        let mut slot = 0usize;
        while set.ends.len() < MIN_RECORDS
            || (set.buf.len() < CYCLE_BYTES && set.ends.len() < MAX_RECORDS)
        {
            let signed = profile.signer.is_some() && chance(profile.signed_percentage);
            let corrupt = chance(profile.corrupt_percentage);
            let oversized = chance(profile.oversized_percentage);
            let size = if oversized {
                oversized_payload + fastrand::usize(..1024)
            } else if profile.variable_size {
                fastrand::usize(..=max_payload)
            } else {
                max_payload
            };
            let start = fastrand::usize(..=pool.len() - size);
            let mut msg = template.clone();
            msg.uuid = Bytes::copy_from_slice(&host::uuid_v4());
            msg.payload = Some(pool.slice(start..start + size));
            msg.fields.push(Field::integer("sequence", slot as i64));
            let bytes = msg.encode_to_vec();
            let key = if signed {
                profile.signer.as_ref()
            } else {
                None
            };
            // Oversized records are framed past the limit on purpose.
            let limit = if oversized {
                u32::MAX as usize
            } else {
                profile.max_message_size
            };
            let record_start = set.buf.len();
            framing::encode_frame(&bytes, key, limit, &mut set.buf).map_err(|e| match e {
                EncodeError::TooLarge { .. } => RecordError::TooLarge {
                    payload: size,
                    limit: profile.max_message_size,
                    source: e,
                },
                e => RecordError::Encode(e),
            })?;
            if corrupt {
                corrupt_record(&mut set.buf[record_start..], bytes.len());
            }
            set.ends.push(set.buf.len());
            set.mix.signed += usize::from(signed);
            set.mix.corrupt += usize::from(corrupt);
            set.mix.oversized += usize::from(oversized);
            slot += 1;
        }
        Ok(set)
    }

    /// Records in the cycle.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the cycle is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The whole cycle.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The first `n` records (`n` ≤ [`len`](Self::len)).
    pub fn prefix(&self, n: usize) -> &[u8] {
        match n {
            0 => &[],
            n => &self.buf[..self.ends[n - 1]],
        }
    }

    /// The `i`-th record.
    pub fn record(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    /// How many records are signed, corrupt, oversized.
    pub fn mix(&self) -> Mix {
        self.mix
    }
}

/// The message every record starts from: fixed headers and the `test`
/// field; the uuid, payload and `sequence` field are set per record.
fn template(profile: &Profile) -> Message {
    let text = |s: &str| Some(Bytes::copy_from_slice(s.as_bytes()));
    Message {
        r#type: text(MESSAGE_TYPE),
        logger: text(LOGGER),
        severity: Some(6),
        pid: Some(host::pid()),
        hostname: text(&host::hostname()),
        fields: vec![Field::string("test", &profile.test_name)],
        ..Message::new([0; 16], host::now_ns())
    }
}

/// Random bytes (or printable ASCII) that payloads are sliced from.
fn payload_pool(len: usize, ascii_only: bool) -> Bytes {
    let mut pool = vec![0u8; len];
    if ascii_only {
        pool.iter_mut().for_each(|b| *b = fastrand::u8(b' '..=b'~'));
    } else {
        fastrand::fill(&mut pool);
    }
    pool.into()
}

fn chance(percentage: f64) -> bool {
    percentage > 0.0 && fastrand::f64() * 100.0 < percentage
}

/// Corrupts one framed record whose message is its last `message_len`
/// bytes. Half the time the framing breaks (the unit separator is
/// overwritten, so a reader must resynchronise on the next record), half
/// the time the message (its first byte becomes a protobuf key with the
/// invalid wire type 7, so it cannot decode, and one more byte is
/// scrambled). A signature, computed before, no longer matches either way.
fn corrupt_record(record: &mut [u8], message_len: usize) {
    let message_start = record.len() - message_len;
    if fastrand::bool() {
        record[message_start - 1] = 0;
    } else {
        record[message_start] = 0x0f;
        if message_len > 1 {
            let i = message_start + 1 + fastrand::usize(..message_len - 1);
            record[i] = fastrand::u8(..);
        }
    }
}

#[cfg(test)]
mod tests {
    use heka_proto::MessageView;
    use heka_proto::deframer::{Authentication, Deframer, Event};
    use heka_proto::signing::Signers;
    use heka_proto::{HmacHashFunction, reader::Reader};
    use std::sync::Arc;

    use super::*;

    fn events(bytes: &[u8], max: usize, auth: Authentication) -> Vec<Event> {
        let mut reader = Reader::new(bytes, Deframer::new(max).with_authentication(auth));
        let mut out = Vec::new();
        while let Some(e) = reader.next_event().unwrap() {
            out.push(e);
        }
        out.extend(std::iter::from_fn(|| reader.finish()));
        out
    }

    #[test]
    fn a_plain_cycle_is_whole_records_of_the_asked_size() {
        let set = RecordSet::build(&Profile::default()).unwrap();
        assert!(set.len() >= MIN_RECORDS);
        assert!(set.bytes().len() >= CYCLE_BYTES);
        assert_eq!(set.mix(), Mix::default());
        let evs = events(set.bytes(), 65536, Authentication::Skip);
        assert_eq!(evs.len(), set.len());
        for (i, e) in evs.into_iter().enumerate() {
            let Event::Record(r) = e else { panic!("{e:?}") };
            assert_eq!(&r.framed[..], set.record(i));
            let m = MessageView::decode(r.message).unwrap();
            assert_eq!(m.r#type(), MESSAGE_TYPE.as_bytes());
            assert_eq!(m.payload().len(), 64);
        }
        assert_eq!(
            set.prefix(3),
            [set.record(0), set.record(1), set.record(2)].concat()
        );
        assert!(set.prefix(0).is_empty());
    }

    #[test]
    fn variable_ascii_payloads_stay_within_bounds() {
        let profile = Profile {
            payload_size: 100,
            variable_size: true,
            ascii_only: true,
            ..Profile::default()
        };
        let set = RecordSet::build(&profile).unwrap();
        let mut sizes = std::collections::BTreeSet::new();
        for e in events(set.bytes(), 65536, Authentication::Skip) {
            let Event::Record(r) = e else { panic!("{e:?}") };
            let m = MessageView::decode(r.message).unwrap();
            assert!(m.payload().len() <= 200);
            assert!(m.payload().iter().all(|b| (b' '..=b'~').contains(b)));
            sizes.insert(m.payload().len());
        }
        assert!(sizes.len() > 10, "{sizes:?}");
    }

    #[test]
    fn signed_corrupt_and_oversized_shares_are_drawn() {
        let profile = Profile {
            signed_percentage: 50.0,
            corrupt_percentage: 100.0,
            signer: Some(SigningKey {
                signer: "ops".into(),
                version: 1,
                hash: HmacHashFunction::Md5,
                key: b"k".to_vec(),
            }),
            ..Profile::default()
        };
        let set = RecordSet::build(&profile).unwrap();
        let mix = set.mix();
        assert_eq!(mix.corrupt, set.len());
        assert!(mix.signed > 0 && mix.signed < set.len(), "{mix:?}");
        let mut keys = Signers::new();
        keys.insert("ops", 1, b"k".to_vec());
        for e in events(set.bytes(), 65536, Authentication::Verify(Arc::new(keys))) {
            if let Event::Record(r) = e {
                assert!(MessageView::decode(r.message).is_err());
            }
        }
    }

    #[test]
    fn oversized_records_exceed_the_limit_and_too_big_payloads_are_refused() {
        let profile = Profile {
            oversized_percentage: 100.0,
            max_message_size: 2048,
            // No 0x1E in the payloads, so no resynchronisation lands inside one.
            ascii_only: true,
            ..Profile::default()
        };
        let set = RecordSet::build(&profile).unwrap();
        assert_eq!(set.mix().oversized, set.len());
        assert!(
            events(set.bytes(), 2048, Authentication::Skip)
                .iter()
                .all(|e| matches!(e, Event::Corrupt { .. }))
        );
        let too_big = Profile {
            payload_size: 5000,
            max_message_size: 2048,
            ..Profile::default()
        };
        assert!(matches!(
            RecordSet::build(&too_big),
            Err(RecordError::TooLarge { payload: 5000, .. })
        ));
    }
}
