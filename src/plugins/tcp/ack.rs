//! hekad's acknowledgement protocol for hekad-to-hekad forwarding: ours,
//! not Heka's, and only spoken when both ends opt in (TcpInput
//! `acknowledge = true`, TcpOutput `require_acks = true`). The sender's
//! stream is unchanged Heka framing; acknowledgements flow the other way
//! on the same connection (plain or TLS), so a Heka receiver, which never
//! sends, is never confused by them.
//!
//! Wire format, receiver to sender:
//! - A greeting, first thing after the connection (and its TLS handshake)
//!   is up: the five bytes `HKACK` and one version byte ([`VERSION`]). A
//!   sender that gets anything else, or nothing within its greeting
//!   timeout, is not talking to an acknowledging hekad and says so.
//! - Then frames of `kind: u8, len: u8, body: [u8; len]`. [`KIND_ACK`]
//!   carries 8 bytes, a big-endian u64: how many bytes of the sender's
//!   stream on this connection the receiver made durable (every record
//!   ending at or before it was handled by every destination it matched).
//!   Acknowledgements are cumulative, so only the newest matters and the
//!   receiver coalesces them. A frame of an unknown kind is skipped by its
//!   length, so a later version can add frames without breaking this one.
//!
//! Positions count stream bytes rather than records: a record the
//! receiver's splitter drops (corrupt, oversize) still moves the position,
//! so the two ends can never disagree about how far they are.

/// The greeting's first bytes.
pub const MAGIC: &[u8; 5] = b"HKACK";
/// The protocol version this hekad speaks.
pub const VERSION: u8 = 1;
/// The acknowledgement frame's kind.
pub const KIND_ACK: u8 = 1;

/// The greeting a receiver sends first.
pub fn greeting() -> [u8; 6] {
    let mut out = [0; 6];
    out[..5].copy_from_slice(MAGIC);
    out[5] = VERSION;
    out
}

/// The frame acknowledging the first `position` bytes of the stream.
pub fn ack_frame(position: u64) -> [u8; 10] {
    let mut out = [0; 10];
    out[0] = KIND_ACK;
    out[1] = 8;
    out[2..].copy_from_slice(&position.to_be_bytes());
    out
}

/// Why the peer's acknowledgement stream is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The first bytes were not the greeting.
    #[error(
        "the peer is not an acknowledging hekad (it sent {0:02x?} where the HKACK greeting belongs); \
         its TcpInput needs `acknowledge = true`"
    )]
    NotAcknowledging(Vec<u8>),
    /// A greeting of a version this hekad does not speak.
    #[error("the peer speaks acknowledgement protocol version {0}, this hekad only {VERSION}")]
    Version(u8),
    /// An acknowledgement frame of the wrong size.
    #[error("malformed acknowledgement frame (kind {kind}, {len} bytes)")]
    Malformed {
        /// The frame's kind.
        kind: u8,
        /// Its body's length.
        len: u8,
    },
}

/// The sender's reading of the receiver's stream: greeting, then the
/// newest acknowledged position.
#[derive(Debug, Default)]
pub struct AckParser {
    pending: Vec<u8>,
    greeted: bool,
    acked: u64,
}

impl AckParser {
    /// A parser for a new connection.
    pub fn new() -> AckParser {
        AckParser::default()
    }

    /// True once the greeting arrived.
    pub fn greeted(&self) -> bool {
        self.greeted
    }

    /// The newest acknowledged position (0 before any).
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Takes bytes read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), AckError> {
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        let data = &self.pending;
        if !self.greeted {
            let seen = data.len().min(MAGIC.len());
            if data[..seen] != MAGIC[..seen] {
                return Err(AckError::NotAcknowledging(data[..seen].to_vec()));
            }
            if data.len() <= MAGIC.len() {
                return Ok(());
            }
            if data[MAGIC.len()] != VERSION {
                return Err(AckError::Version(data[MAGIC.len()]));
            }
            self.greeted = true;
            at = MAGIC.len() + 1;
        }
        while let [kind, len, rest @ ..] = &data[at..] {
            let (kind, len) = (*kind, *len);
            if rest.len() < len as usize {
                break;
            }
            if kind == KIND_ACK {
                let body: [u8; 8] = rest[..len as usize]
                    .try_into()
                    .map_err(|_| AckError::Malformed { kind, len })?;
                // Cumulative: an older position arriving late changes nothing.
                self.acked = self.acked.max(u64::from_be_bytes(body));
            }
            at += 2 + len as usize;
        }
        self.pending.drain(..at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_and_acks_parse_in_any_split() {
        let mut wire = greeting().to_vec();
        wire.extend_from_slice(&ack_frame(10));
        // A frame of a kind from the future is skipped.
        wire.extend_from_slice(&[9, 3, 1, 2, 3]);
        wire.extend_from_slice(&ack_frame(7));
        wire.extend_from_slice(&ack_frame(300));
        for cut in 0..=wire.len() {
            let mut parser = AckParser::new();
            parser.feed(&wire[..cut]).unwrap();
            parser.feed(&wire[cut..]).unwrap();
            assert!(parser.greeted());
            assert_eq!(parser.acked(), 300, "cut at {cut}");
        }
        let mut byte_by_byte = AckParser::new();
        for b in &wire {
            byte_by_byte.feed(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(byte_by_byte.acked(), 300);
    }

    #[test]
    fn anything_but_the_greeting_is_refused_clearly() {
        let mut parser = AckParser::new();
        parser.feed(b"HK").unwrap();
        assert!(!parser.greeted());
        let err = parser.feed(b"X").unwrap_err();
        assert_eq!(err, AckError::NotAcknowledging(b"HKX".to_vec()));
        assert!(err.to_string().contains("acknowledge = true"), "{err}");
        let mut future = AckParser::new();
        assert_eq!(future.feed(b"HKACK\x02"), Err(AckError::Version(2)));
        let mut short = AckParser::new();
        assert_eq!(
            short.feed(b"HKACK\x01\x01\x02ab"),
            Err(AckError::Malformed { kind: 1, len: 2 })
        );
    }
}
