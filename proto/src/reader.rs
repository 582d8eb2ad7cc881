//! Blocking reads of framed records from files (protobuf output files, disk
//! queue segments): a [`Deframer`] fed from any `std::io::Read`. At the end of
//! the data the reader keeps a partial record, so a caller can wait and call
//! again to follow a growing file, or [`finish`](Reader::finish) to report it.

use std::io::{self, Read};

use bytes::BytesMut;

use crate::deframer::{DeframeStats, Deframer, Event};

const READ_CHUNK: usize = 64 * 1024;

/// Reads framing events from a byte source.
#[derive(Debug)]
pub struct Reader<R> {
    inner: R,
    buf: BytesMut,
    deframer: Deframer,
}

impl<R: Read> Reader<R> {
    /// Reads `inner` with `deframer`.
    pub fn new(inner: R, deframer: Deframer) -> Self {
        Reader {
            inner,
            buf: BytesMut::new(),
            deframer,
        }
    }

    /// The next event, or `None` when the source has no more data right now.
    pub fn next_event(&mut self) -> io::Result<Option<Event>> {
        loop {
            if let Some(event) = self.deframer.next(&mut self.buf) {
                return Ok(Some(event));
            }
            let filled = self.buf.len();
            self.buf
                .resize(filled + READ_CHUNK.max(self.buf.capacity() - filled), 0);
            let n = loop {
                match self.inner.read(&mut self.buf[filled..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            self.buf.truncate(filled + *n.as_ref().unwrap_or(&0));
            if n? == 0 {
                return Ok(None);
            }
        }
    }

    /// At the real end of the data: reports a trailing partial record as
    /// corruption and recovers any record behind it. Call until `None`.
    pub fn finish(&mut self) -> Option<Event> {
        self.deframer.next_at_eof(&mut self.buf)
    }

    /// Stream offset of the first byte not yet consumed.
    pub fn offset(&self) -> u64 {
        self.deframer.offset()
    }

    /// Totals so far.
    pub fn stats(&self) -> DeframeStats {
        self.deframer.stats()
    }
}
