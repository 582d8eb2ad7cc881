//! StreamSink: one input stream (a connection, a file) being cut into
//! records and routed. An input appends bytes to its buffer and flushes;
//! the sink splits, decodes and hands the packs to the router through its
//! [`InputCx`] (parking while the pool or the router is full), optionally
//! tying them to a producer's acknowledgement ([`crate::ack`]).
//!
//! Pipelined: with [`StreamSink::flush_pipelined`] a read's parts are
//! offered to the decode pool when it is cut, and the read is routed only
//! at the next flush, so the workers decode read N+1 while read N waits
//! for pool permits or router room; and while the sink itself would wait
//! (for permits, or for a part a worker is on) it decodes parts nobody has
//! started. Records are routed in record order, always.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::ack::Ack;
use crate::messages::PluginExited;
use crate::pack::PackRef;
use crate::plugin::PluginError;
use crate::runner::input::InputCx;
use crate::runner::parts::{Part, Read};
use crate::runner::stream::{Stream, StreamDefaults};

/// The most reads cut and not yet routed per stream, counting the one
/// being routed. Two lets the pool decode one read while the previous one
/// waits for pool permits, which is what keeps the decoders and the rest
/// of the pipeline busy at once; more only holds more decoded packs
/// (memory) outside the pack pool's bound. Only while a read is more than
/// one route batch (a quarter of the pool): with a pool that large the
/// pool is the slack between the input and the rest, and a second read
/// in flight only costs memory (W2, poolsize 10000: same lines/s, peak
/// RSS 28 MiB instead of 31-33).
const IN_FLIGHT: usize = 2;

/// One stream of bytes being cut into records and routed.
pub struct StreamSink {
    cx: InputCx,
    stream: Stream,
    /// Reads cut and not routed yet, oldest first (at most [`IN_FLIGHT`]).
    reads: VecDeque<Read>,
}

impl StreamSink {
    pub(super) fn new(cx: InputCx, stream: Stream) -> StreamSink {
        StreamSink {
            cx,
            stream,
            reads: VecDeque::new(),
        }
    }

    /// The severity stamped on text records made from now on (HttpInput
    /// marks a failed status with its `error_severity`); unset is 7.
    pub fn set_severity(&mut self, severity: Option<i32>) {
        self.stream.severity = severity;
    }

    /// The read buffer: append bytes, then call [`StreamSink::flush`].
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.stream.buf
    }

    /// The headers stamped on text records made from now on (UdpInput
    /// sets each datagram's sender as the hostname).
    pub fn defaults_mut(&mut self) -> &mut StreamDefaults {
        &mut self.stream.defaults
    }

    /// Fields appended to every text record made from now on, before any
    /// decoder sees it (ProcessInput's ExitStatus and SubcmdErrors).
    pub fn set_fields(&mut self, fields: Vec<heka_proto::Field>) {
        self.stream.fields = fields;
    }

    /// Splits, decodes and routes every whole record in the buffer; with
    /// `eof`, also the trailing partial record per `deliver_incomplete_final`.
    /// Everything is routed when it returns.
    pub async fn flush(&mut self, eof: bool) -> Result<(), PluginError> {
        self.flush_acked(eof, |_| None).await
    }

    /// [`StreamSink::flush`] for a producer that checkpoints by
    /// acknowledgement ([`crate::ack`]): once the records are cut, `mark`
    /// gets the number of bytes left in the buffer (the partial record not
    /// routed) and returns the Ack every routed pack then holds.
    pub async fn flush_acked(
        &mut self,
        eof: bool,
        mark: impl FnOnce(usize) -> Option<Ack>,
    ) -> Result<(), PluginError> {
        self.start(eof, mark);
        self.drain().await
    }

    /// [`StreamSink::flush_acked`] that may return before the records are
    /// routed: the read is cut and its parts offered to the decode pool,
    /// then older reads are routed until fewer than [`IN_FLIGHT`] remain
    /// (none, when the read is no more than one route batch). With `eof`
    /// everything is routed. A caller about to wait for more
    /// input (or to stop) calls [`StreamSink::drain`] first, so nothing
    /// sits decoded while the stream is idle.
    pub async fn flush_pipelined(
        &mut self,
        eof: bool,
        mark: impl FnOnce(usize) -> Option<Ack>,
    ) -> Result<(), PluginError> {
        let records = self.start(eof, mark);
        if eof {
            return self.drain().await;
        }
        let depth = match records > self.cx.route_chunk() {
            true => IN_FLIGHT,
            false => 1,
        };
        while self.reads.len() >= depth {
            self.finish_one().await?;
        }
        Ok(())
    }

    /// Routes every read still in flight, in order.
    pub async fn drain(&mut self) -> Result<(), PluginError> {
        while !self.reads.is_empty() {
            self.finish_one().await?;
        }
        Ok(())
    }

    /// True when reads are cut and not routed yet.
    pub fn in_flight(&self) -> bool {
        !self.reads.is_empty()
    }

    /// Cuts a read (see `Stream::start`); returns its records.
    fn start(&mut self, eof: bool, mark: impl FnOnce(usize) -> Option<Ack>) -> usize {
        let mut read = self.stream.start(eof);
        read.ack = mark(self.stream.buf.len());
        let records = read.records;
        self.reads.push_back(read);
        records
    }

    /// Decodes (or waits for) and routes the oldest read's parts, in order.
    async fn finish_one(&mut self) -> Result<(), PluginError> {
        let Some(mut read) = self.reads.pop_front() else {
            return Ok(());
        };
        let result = self.finish(&mut read).await;
        if result.is_err() {
            // What was not routed is not handled: the producer's position
            // stays before this read and every later one.
            read.abandon();
            self.reads.iter_mut().for_each(Read::abandon);
            self.reads.clear();
        }
        self.stream.sample_decoder();
        // The read's own Ack clone drops here: its mark completes once every
        // routed pack was handled.
        result
    }

    async fn finish(&mut self, read: &mut Read) -> Result<(), PluginError> {
        let cx = self.cx.clone();
        // Routed in whole batches of what `route` hands over at once, the
        // rest with the read's last part: as many messages for the router
        // (and every filter and output after it) as routing the read in one
        // go, however it was cut.
        let chunk = cx.route_chunk();
        let mut batch: Vec<PackRef> = Vec::new();
        while let Some(part) = read.parts.pop_front() {
            let (mut packs, result) = self.decoded(part, read).await;
            if let Some(ack) = &read.ack {
                for pack in &mut packs {
                    // Packs reach here straight from the decoder, unshared.
                    if let Some(fresh) = Arc::get_mut(pack) {
                        fresh.set_ack(ack.clone());
                    }
                }
            }
            batch.append(&mut packs);
            let whole = match read.parts.is_empty() || result.is_err() {
                true => batch.len(),
                false => batch.len() / chunk * chunk,
            };
            if whole > 0 {
                let rest = batch.split_off(whole);
                let route = cx.route(std::mem::replace(&mut batch, rest));
                tokio::pin!(route);
                self.ahead_of(route.as_mut(), read).await?;
            }
            if let Err(err) = result {
                self.report_fatal(&err);
                return Err(err);
            }
        }
        Ok(())
    }

    /// The packs of `part` (the next of `read` to route), decoding it here
    /// or waiting for the worker that has it.
    async fn decoded(
        &mut self,
        mut part: Part,
        read: &mut Read,
    ) -> (Vec<PackRef>, Result<(), PluginError>) {
        self.stream.decode_here(&mut part, &read.decoding);
        match part {
            Part::Done { packs, result } => (packs, result),
            Part::Offered { reply, .. } => match self.ahead_of(reply, read).await {
                Ok(decoded) => decoded,
                // A worker panicked outside the decoder's guard: its part is
                // gone, which must not pass silently.
                Err(_) => (
                    Vec::new(),
                    Err(PluginError::fatal("a decode thread failed")),
                ),
            },
            // Unreachable: decode_here leaves no local part.
            Part::Local(_) => (Vec::new(), Ok(())),
        }
    }

    /// Awaits `wait`; while it is not ready, decodes parts nobody started
    /// (the rest of `read`, then later reads), earliest first, instead of
    /// sitting idle.
    async fn ahead_of<F: Future + Unpin>(&mut self, mut wait: F, read: &mut Read) -> F::Output {
        loop {
            let poll = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut wait).poll(cx))).await;
            if let Poll::Ready(out) = poll {
                return out;
            }
            if !self.decode_ahead(read) {
                return wait.await;
            }
        }
    }

    /// Decodes a part nobody started: the earliest one kept for the stream
    /// (in record order, which a decoder that is not stateless needs), else
    /// the latest one still waiting in the pool's queue (workers take them
    /// from the front). Never past a part whose decoder failed. False when
    /// there is none.
    fn decode_ahead(&mut self, read: &mut Read) -> bool {
        // Offered parts before the first failure, as (read, part); read 0
        // is `read`, the one being routed.
        let mut offered = Vec::new();
        let reads = std::iter::once(&mut *read).chain(self.reads.iter_mut());
        'scan: for (r, read) in reads.enumerate() {
            for (p, part) in read.parts.iter_mut().enumerate() {
                match part {
                    Part::Local(_) => return self.stream.decode_here(part, &read.decoding),
                    Part::Offered { .. } => offered.push((r, p)),
                    Part::Done { result, .. } if result.is_err() => break 'scan,
                    Part::Done { .. } => {}
                }
            }
        }
        for (r, p) in offered.into_iter().rev() {
            let read = match r {
                0 => &mut *read,
                r => &mut self.reads[r - 1],
            };
            if self.stream.decode_here(&mut read.parts[p], &read.decoding) {
                return true;
            }
        }
        false
    }

    /// Only a decoder fails a stream fatally. As in Heka (where a
    /// SandboxDecoder returning > 0 stops hekad), that is fatal for the
    /// whole daemon, not just this input.
    fn report_fatal(&self, err: &PluginError) {
        let decoder = self.cx.inner.decoder.as_deref().unwrap_or("decoder");
        let env = &self.cx.inner.env;
        env.exits.do_send(PluginExited {
            name: format!("{}-{decoder}", self.cx.name()).into(),
            type_name: env.spec(decoder).map_or(decoder, |s| &s.type_name).into(),
            can_exit: false,
            error: err.to_string(),
        });
    }

    /// Reads `reader` to its end, routing records as they complete. When a
    /// stop is requested it keeps reading what the peer already sent (data
    /// the kernel has acknowledged) until the stream is quiet for
    /// [`DRAIN_IDLE`] or [`DRAIN_LIMIT`] has passed, so a graceful shutdown
    /// does not drop what senders believe was delivered.
    pub async fn read_from<R: AsyncRead + Unpin>(&mut self, reader: R) -> io::Result<()> {
        self.read_from_acked(reader, |_| None).await
    }

    /// [`StreamSink::read_from`] for a producer that acknowledges by
    /// position: at each flush `mark` gets the number of bytes of the
    /// stream consumed so far (read, minus the partial record still
    /// buffered) and returns the Ack the flushed packs then hold.
    ///
    /// Pipelined while the peer keeps the next read ready: a read is
    /// decoded while the one before it is routed. Before waiting for a
    /// read that is not there yet, everything read is routed.
    pub async fn read_from_acked<R: AsyncRead + Unpin>(
        &mut self,
        mut reader: R,
        mut mark: impl FnMut(u64) -> Option<Ack>,
    ) -> io::Result<()> {
        let cx = self.cx.clone();
        let mut drain_until = None;
        let mut total: u64 = 0;
        loop {
            let pipelining = drain_until.is_none() && !cx.is_stopping() && self.in_flight();
            let buf = &mut self.stream.buf;
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(buf.len().max(64 * 1024));
            }
            let ready = match pipelining {
                true => {
                    let mut read = std::pin::pin!(reader.read_buf(&mut *buf));
                    match std::future::poll_fn(|c| Poll::Ready(read.as_mut().poll(c))).await {
                        Poll::Ready(Ok(n)) => Some(n),
                        Poll::Ready(Err(err)) => {
                            // What was read before the failure is routed.
                            self.drain().await.map_err(io::Error::other)?;
                            return Err(err);
                        }
                        Poll::Pending => None,
                    }
                }
                false => None,
            };
            let (n, last) = match ready {
                Some(n) => (n, false),
                None => {
                    self.drain().await.map_err(io::Error::other)?;
                    let buf = &mut self.stream.buf;
                    match drain_until {
                        None => tokio::select! {
                            biased;
                            _ = cx.stopped() => {
                                drain_until = Some(tokio::time::Instant::now() + DRAIN_LIMIT);
                                continue;
                            }
                            n = reader.read_buf(buf) => (n?, false),
                        },
                        Some(limit) => {
                            let idle = tokio::time::Instant::now() + DRAIN_IDLE;
                            match tokio::time::timeout_at(idle.min(limit), reader.read_buf(buf))
                                .await
                            {
                                Ok(n) => (n?, false),
                                // Quiet (or out of time): what was received is routed.
                                Err(_) => (0, true),
                            }
                        }
                    }
                }
            };
            total += n as u64;
            let eof = n == 0 && !last;
            let consumed = |buffered: usize| mark(total - buffered as u64);
            let flushed = match n {
                0 => self.flush_acked(eof, consumed).await,
                _ => self.flush_pipelined(eof, consumed).await,
            };
            flushed.map_err(io::Error::other)?;
            if n == 0 {
                return Ok(());
            }
        }
    }
}

impl Drop for StreamSink {
    fn drop(&mut self) {
        // Reads never routed (the input failed or was cancelled mid-way)
        // must not count as handled.
        self.reads.iter_mut().for_each(Read::abandon);
    }
}

/// At shutdown, a stream that stays quiet this long is considered drained.
pub const DRAIN_IDLE: std::time::Duration = std::time::Duration::from_millis(100);

/// At shutdown, the longest a stream is read for after the stop request.
pub const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);
