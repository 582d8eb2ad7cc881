//! Read boundaries never change what the framing readers find. Arbitrary
//! streams (records, signed records, torn records, bogus headers, garbage)
//! are cut at arbitrary points and fed to the slice scanner, the deframer,
//! the tokio codec and the blocking reader: each finds the same records at
//! the same offsets as one read of the whole stream, accounts for every
//! byte, and never holds more than one record's worth of bytes while it
//! waits for the rest of a record.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_util::StreamExt;
use heka_proto::HmacHashFunction;
use heka_proto::codec::HekaFramingCodec;
use heka_proto::deframer::{Authentication, Deframer, Event};
use heka_proto::framing::{Scan, SkipReason, encode_frame, max_record_size, scan};
use heka_proto::reader::Reader;
use heka_proto::signing::{Signers, SigningKey};
use proptest::prelude::*;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::FramedRead;

/// One stretch of a generated stream.
#[derive(Debug, Clone)]
enum Piece {
    /// A whole record; signed with the right key, the wrong key, or not.
    Record(Vec<u8>, Option<bool>),
    /// The first `n` bytes of a record (a writer that died mid-record).
    Torn(Vec<u8>, usize),
    /// A separator, a length byte and whatever follows.
    BogusHeader(u8, Vec<u8>),
    /// Arbitrary bytes, separators included.
    Garbage(Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    let body = || proptest::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        3 => (body(), proptest::option::of(any::<bool>())).prop_map(|(b, s)| Piece::Record(b, s)),
        1 => (body(), any::<usize>()).prop_map(|(b, n)| Piece::Torn(b, n)),
        1 => (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(h, b)| Piece::BogusHeader(h, b)),
        1 => proptest::collection::vec(prop_oneof![Just(0x1e), Just(0x1f), any::<u8>()], 0..40)
            .prop_map(Piece::Garbage),
    ]
}

fn key(secret: &str) -> SigningKey {
    SigningKey {
        signer: "ops".into(),
        version: 1,
        hash: HmacHashFunction::Md5,
        key: secret.as_bytes().to_vec(),
    }
}

/// The stream the pieces make. Records are framed for a generous limit, so
/// some announce more than the reader's `max` and must be skipped.
fn stream(pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::Record(body, signed) => {
                let k = signed.map(|right| key(if right { "right" } else { "wrong" }));
                encode_frame(body, k.as_ref(), 1 << 20, &mut out).unwrap();
            }
            Piece::Torn(body, n) => {
                let mut whole = Vec::new();
                encode_frame(body, None, 1 << 20, &mut whole).unwrap();
                out.extend(&whole[..n % whole.len()]);
            }
            Piece::BogusHeader(hlen, rest) => {
                out.extend([0x1e, *hlen]);
                out.extend(rest);
            }
            Piece::Garbage(g) => out.extend(g),
        }
    }
    out
}

fn deframer(max: usize) -> Deframer {
    let mut signers = Signers::new();
    signers.insert("ops", 1, "right");
    Deframer::new(max).with_authentication(Authentication::Verify(Arc::new(signers)))
}

/// What a reader found, reduced to what must not depend on read
/// boundaries: records and rejections with their offsets and bytes, and the
/// total of skipped bytes (runs of skipped bytes may be reported in several
/// events when they span reads).
#[derive(Debug, Default, PartialEq)]
struct Found {
    records: Vec<(u64, Vec<u8>, bool)>,
    rejected: Vec<(u64, usize)>,
    skipped: usize,
}

impl Found {
    fn add(&mut self, e: Event) {
        match e {
            Event::Record(r) => {
                self.records
                    .push((r.offset, r.framed.to_vec(), r.signer.is_some()))
            }
            Event::Rejected { offset, len, .. } => self.rejected.push((offset, len)),
            Event::Corrupt { len, .. } => self.skipped += len,
        }
    }

    fn accounted(&self) -> usize {
        let records: usize = self.records.iter().map(|r| r.1.len()).sum();
        let rejected: usize = self.rejected.iter().map(|r| r.1).sum();
        records + rejected + self.skipped
    }
}

/// `bytes` cut into pieces of the given sizes (cycled).
fn chunks<'a>(bytes: &'a [u8], sizes: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut at = 0;
    sizes.iter().cycle().map_while(move |&n| {
        (at < bytes.len()).then(|| {
            let end = (at + n).min(bytes.len());
            let piece = &bytes[at..end];
            at = end;
            piece
        })
    })
}

/// The deframer fed chunk by chunk; checks the memory bound on the way.
fn deframed(bytes: &[u8], sizes: &[usize], max: usize) -> Result<Found, TestCaseError> {
    let mut d = deframer(max);
    let mut buf = BytesMut::new();
    let mut found = Found::default();
    for piece in chunks(bytes, sizes) {
        buf.extend_from_slice(piece);
        while let Some(e) = d.next(&mut buf) {
            found.add(e);
        }
        // Waiting for more: at most one record's bytes are kept, however
        // the stream is made.
        prop_assert!(
            buf.len() < max_record_size(max),
            "{} bytes held for a limit of {max}",
            buf.len()
        );
    }
    while let Some(e) = d.next_at_eof(&mut buf) {
        found.add(e);
    }
    prop_assert!(buf.is_empty());
    prop_assert_eq!(d.offset(), bytes.len() as u64);
    Ok(found)
}

/// An `AsyncRead` (and `Read`) that hands out the stream in fixed pieces.
struct Pieces(VecDeque<Vec<u8>>);

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = std::io::Read::read(&mut *self, buf.initialize_unfilled())?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl std::io::Read for Pieces {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let Some(front) = self.0.front_mut() else {
            return Ok(0);
        };
        let n = front.len().min(out.len());
        out[..n].copy_from_slice(&front[..n]);
        front.drain(..n);
        if front.is_empty() {
            self.0.pop_front();
        }
        Ok(n)
    }
}

fn pieces(bytes: &[u8], sizes: &[usize]) -> Pieces {
    Pieces(chunks(bytes, sizes).map(<[u8]>::to_vec).collect())
}

fn through_codec(bytes: &[u8], sizes: &[usize], max: usize) -> Found {
    let codec = HekaFramingCodec::new(max).with_authentication(Authentication::Verify(Arc::new({
        let mut s = Signers::new();
        s.insert("ops", 1, "right");
        s
    })));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut framed = FramedRead::new(pieces(bytes, sizes), codec);
        let mut found = Found::default();
        while let Some(e) = framed.next().await {
            found.add(e.expect("no I/O errors from memory"));
        }
        found
    })
}

fn through_reader(bytes: &[u8], sizes: &[usize], max: usize) -> Found {
    let mut reader = Reader::new(pieces(bytes, sizes), deframer(max));
    let mut found = Found::default();
    while let Some(e) = reader.next_event().unwrap() {
        found.add(e);
    }
    while let Some(e) = reader.finish() {
        found.add(e);
    }
    found
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn read_boundaries_change_nothing(
        parts in proptest::collection::vec(piece(), 0..12),
        sizes in proptest::collection::vec(1usize..80, 1..6),
        max in prop_oneof![Just(64usize), Just(200), Just(1024)],
    ) {
        let bytes = stream(&parts);
        let whole = deframed(&bytes, &[bytes.len().max(1)], max)?;
        prop_assert_eq!(whole.accounted(), bytes.len());
        let chunked = deframed(&bytes, &sizes, max)?;
        prop_assert_eq!(&chunked, &whole);
        prop_assert_eq!(&through_codec(&bytes, &sizes, max), &whole);
        prop_assert_eq!(&through_reader(&bytes, &sizes, max), &whole);
        // A record is the stream's own bytes at its offset.
        for (offset, framed, _) in &whole.records {
            let start = *offset as usize;
            prop_assert_eq!(&bytes[start..start + framed.len()], &framed[..]);
        }
    }

    #[test]
    fn the_scanner_never_decides_on_bytes_it_has_not_seen(
        parts in proptest::collection::vec(piece(), 1..6),
        cut in any::<usize>(),
        max in prop_oneof![Just(64usize), Just(1024)],
    ) {
        // A verdict on a prefix (record found, bytes to skip) is the verdict
        // on the whole buffer: later bytes cannot change it.
        let bytes = stream(&parts);
        let prefix = &bytes[..cut % (bytes.len() + 1)];
        match scan(prefix, max) {
            Scan::NeedMore { record_len } => {
                if let Some(len) = record_len {
                    prop_assert!(len > prefix.len() && len <= max_record_size(max));
                }
            }
            // Garbage runs to the end of what was seen; more bytes can only
            // make the run longer.
            Scan::Skip { len, reason: SkipReason::Garbage } if len == prefix.len() => {
                let whole = scan(&bytes, max);
                prop_assert!(
                    matches!(whole, Scan::Skip { len: l, reason: SkipReason::Garbage } if l >= len),
                    "{:?}", whole
                );
            }
            verdict => prop_assert_eq!(scan(&bytes, max), verdict),
        }
    }
}

#[test]
fn records_behind_signed_and_torn_ones_are_found() {
    // A known stream, so the property above is not only self-consistent.
    let parts = [
        Piece::Record(b"one".to_vec(), Some(true)),
        Piece::Record(b"forged".to_vec(), Some(false)),
        // Announces 100 bytes, fewer follow: dropped at the end, not swallowing.
        Piece::Torn(vec![b't'; 100], 9),
        Piece::Garbage(b"\x1e\x1f noise".to_vec()),
        Piece::Record(b"two".to_vec(), None),
    ];
    let bytes = stream(&parts);
    let found = deframed(&bytes, &[3], 1024).unwrap();
    let messages: Vec<(&[u8], bool)> = found
        .records
        .iter()
        .map(|(_, f, signed)| (&f[f.len() - 3..], *signed))
        .collect();
    assert_eq!(messages, [(&b"one"[..], true), (&b"two"[..], false)]);
    assert_eq!(found.rejected.len(), 1);
    assert_eq!(found.accounted(), bytes.len());
}
