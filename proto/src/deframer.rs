//! The framing state machine over a growing buffer: it cuts whole records off
//! the front of a `BytesMut`, coalesces everything it had to skip into one
//! corruption event with its stream offset, authenticates signed records and
//! keeps the counts. The socket [`codec`](crate::codec) and the file
//! [`reader`](crate::reader) are thin shells around it.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use crate::framing::{self, Scan, SkipReason};
use crate::message::Header;
use crate::signing::{AuthError, Authenticated, Signers};

/// One whole record cut from the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Stream offset of the record's first byte.
    pub offset: u64,
    /// The decoded framing header.
    pub header: Header,
    /// The whole framed record (shares storage with `message`).
    pub framed: Bytes,
    /// The message bytes, normally a protobuf `Message`.
    pub message: Bytes,
    /// The signer whose HMAC was verified, when the record was signed and
    /// authentication is on.
    pub signer: Option<Bytes>,
}

/// What the deframer found next.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A record to deliver.
    Record(Record),
    /// Bytes that were skipped to resynchronise on the next record.
    Corrupt {
        /// Stream offset of the first skipped byte.
        offset: u64,
        /// How many bytes were skipped.
        len: usize,
        /// Why the first of them was skipped.
        reason: SkipReason,
    },
    /// A whole record whose signature failed: it is dropped, never delivered.
    Rejected {
        /// Stream offset of the record.
        offset: u64,
        /// Its length.
        len: usize,
        /// Why it failed.
        error: AuthError,
    },
}

/// How signed records are treated.
#[derive(Debug, Clone, Default)]
pub enum Authentication {
    /// Signatures are not checked (Heka's `skip_authentication = true`).
    #[default]
    Skip,
    /// Signed records must verify against these keys; unsigned ones pass.
    Verify(Arc<Signers>),
}

/// Running totals of a deframer, for statistics and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeframeStats {
    /// Records delivered.
    pub records: u64,
    /// Corruption events (runs of skipped bytes).
    pub corruptions: u64,
    /// Bytes skipped in all.
    pub skipped_bytes: u64,
    /// Signed records rejected.
    pub rejected: u64,
}

/// Cuts records off the front of a buffer; see the module docs.
#[derive(Debug, Clone)]
pub struct Deframer {
    max_message_size: usize,
    auth: Authentication,
    offset: u64,
    stats: DeframeStats,
}

impl Deframer {
    /// A deframer accepting messages up to `max_message_size` bytes, with
    /// offsets counted from 0.
    pub fn new(max_message_size: usize) -> Self {
        Deframer {
            max_message_size,
            auth: Authentication::Skip,
            offset: 0,
            stats: DeframeStats::default(),
        }
    }

    /// Sets how signed records are treated.
    pub fn with_authentication(mut self, auth: Authentication) -> Self {
        self.auth = auth;
        self
    }

    /// Counts offsets from `offset` (a reader that started mid-file).
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// The stream offset of the first byte not yet consumed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The totals so far.
    pub fn stats(&self) -> DeframeStats {
        self.stats
    }

    /// The next event from the front of `buf`, or `None` when `buf` holds no
    /// more than the start of a record (read more and call again).
    pub fn next(&mut self, buf: &mut BytesMut) -> Option<Event> {
        self.step(buf, false)
    }

    /// Like [`next`](Self::next), at the end of the stream: a trailing partial
    /// record is reported as corruption and anything after its first byte is
    /// scanned again, so no whole record hidden behind it is lost. Call until
    /// it returns `None`; the buffer is then empty.
    pub fn next_at_eof(&mut self, buf: &mut BytesMut) -> Option<Event> {
        self.step(buf, true)
    }

    fn step(&mut self, buf: &mut BytesMut, eof: bool) -> Option<Event> {
        let mut skipped: Option<(u64, usize, SkipReason)> = None;
        loop {
            let (len, reason) = match framing::scan(buf, self.max_message_size) {
                Scan::Record(frame) => {
                    if skipped.is_some() {
                        // Report the skipped run first; the record stays put.
                        break;
                    }
                    return Some(self.cut(buf, frame));
                }
                Scan::NeedMore { record_len } => {
                    if !eof || buf.is_empty() {
                        if let Some(want) = record_len {
                            buf.reserve(want.saturating_sub(buf.len()));
                        }
                        break;
                    }
                    (1, SkipReason::Truncated)
                }
                Scan::Skip { len, reason } => (len, reason),
            };
            buf.advance(len);
            match &mut skipped {
                Some((_, total, _)) => *total += len,
                None => skipped = Some((self.offset, len, reason)),
            }
            self.offset += len as u64;
        }
        let (offset, len, reason) = skipped?;
        self.stats.corruptions += 1;
        self.stats.skipped_bytes += len as u64;
        Some(Event::Corrupt {
            offset,
            len,
            reason,
        })
    }

    fn cut(&mut self, buf: &mut BytesMut, frame: framing::Frame) -> Event {
        let offset = self.offset;
        let len = frame.len();
        let framed = buf.split_to(len).freeze();
        self.offset += len as u64;
        let message = framed.slice(frame.message_range());
        let signer = match &self.auth {
            Authentication::Skip => None,
            Authentication::Verify(signers) => match signers.verify(&frame.header, &message) {
                Ok(Authenticated::Unsigned) => None,
                Ok(Authenticated::Signed(signer)) => Some(signer),
                Err(error) => {
                    self.stats.rejected += 1;
                    return Event::Rejected { offset, len, error };
                }
            },
        };
        self.stats.records += 1;
        Event::Record(Record {
            offset,
            header: frame.header,
            framed,
            message,
            signer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{DEFAULT_MAX_MESSAGE_SIZE, encode_frame};

    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            encode_frame(m, None, DEFAULT_MAX_MESSAGE_SIZE, &mut out).unwrap();
        }
        out
    }

    fn drain(d: &mut Deframer, buf: &mut BytesMut) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(e) = d.next(buf) {
            events.push(e);
        }
        while let Some(e) = d.next_at_eof(buf) {
            events.push(e);
        }
        events
    }

    #[test]
    fn skipped_runs_are_coalesced_with_their_offset() {
        let mut bytes = framed(&[b"one"]);
        let garbage_at = bytes.len() as u64;
        // Garbage, then a bogus separator with a bad header, then garbage.
        bytes.extend_from_slice(b"xx\x1e\x05yyyyyyy");
        bytes.extend(framed(&[b"two"]));
        let mut buf = BytesMut::from(&bytes[..]);
        let mut d = Deframer::new(1024);
        let events = drain(&mut d, &mut buf);
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(matches!(&events[0], Event::Record(r) if &r.message[..] == b"one"));
        assert_eq!(
            events[1],
            Event::Corrupt {
                offset: garbage_at,
                len: 11,
                reason: SkipReason::Garbage
            }
        );
        assert!(matches!(&events[2], Event::Record(r) if &r.message[..] == b"two"));
        assert_eq!(
            d.stats(),
            DeframeStats {
                records: 2,
                corruptions: 1,
                skipped_bytes: 11,
                rejected: 0
            }
        );
        assert_eq!(d.offset(), bytes.len() as u64);
    }

    #[test]
    fn a_truncated_tail_is_reported_and_records_behind_it_are_recovered() {
        let whole = framed(&[b"hidden"]);
        // A header promising 100 bytes, cut short by a real record.
        let mut bytes = vec![0x1e, 0x02, 0x08, 100, 0x1f, b'a', b'b'];
        bytes.extend(&whole);
        let mut buf = BytesMut::from(&bytes[..]);
        let mut d = Deframer::new(1024);
        assert_eq!(d.next(&mut buf), None, "waits for the promised bytes");
        let events = drain(&mut d, &mut buf);
        assert_eq!(
            events[0],
            Event::Corrupt {
                offset: 0,
                len: 7,
                reason: SkipReason::Truncated
            }
        );
        assert!(
            matches!(&events[1], Event::Record(r) if &r.message[..] == b"hidden" && r.offset == 7)
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn records_split_across_reads_are_joined() {
        let bytes = framed(&[b"alpha", b"beta"]);
        let mut d = Deframer::new(1024);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in &bytes {
            buf.extend_from_slice(&[*b]);
            while let Some(Event::Record(r)) = d.next(&mut buf) {
                got.push(r.message);
            }
        }
        assert_eq!(got, [&b"alpha"[..], &b"beta"[..]]);
    }
}
