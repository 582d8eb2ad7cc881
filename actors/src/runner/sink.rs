//! StreamSink: one input stream (a connection, a file) being cut into
//! records and routed. An input appends bytes to its buffer and flushes;
//! the sink splits, decodes and hands the packs to the router through its
//! [`InputCx`] (parking while the pool or the router is full), optionally
//! tying them to a producer's acknowledgement ([`crate::ack`]).

use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::ack::Ack;
use crate::messages::PluginExited;
use crate::pack::PackRef;
use crate::plugin::PluginError;
use crate::runner::input::InputCx;
use crate::runner::stream::{Stream, StreamDefaults};

/// One stream of bytes being cut into records and routed.
pub struct StreamSink {
    cx: InputCx,
    stream: Stream,
    out: Vec<PackRef>,
}

impl StreamSink {
    pub(super) fn new(cx: InputCx, stream: Stream) -> StreamSink {
        StreamSink {
            cx,
            stream,
            out: Vec::new(),
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
        self.process(eof).await?;
        if let Some(ack) = mark(self.stream.buf.len()) {
            for pack in &mut self.out {
                // Packs reach here straight from the stream, unshared.
                if let Some(fresh) = Arc::get_mut(pack) {
                    fresh.set_ack(ack.clone());
                }
            }
        }
        if self.out.is_empty() {
            return Ok(());
        }
        let items = std::mem::take(&mut self.out);
        self.cx.route(items).await
    }

    async fn process(&mut self, eof: bool) -> Result<(), PluginError> {
        if let Err(err) = self.stream.process(eof, &mut self.out).await {
            // Only a decoder fails a stream fatally. As in Heka (where a
            // SandboxDecoder returning > 0 stops hekad), that is fatal for
            // the whole daemon, not just this input.
            let decoder = self.cx.inner.decoder.as_deref().unwrap_or("decoder");
            let env = &self.cx.inner.env;
            env.exits.do_send(PluginExited {
                name: format!("{}-{decoder}", self.cx.name()).into(),
                type_name: env.spec(decoder).map_or(decoder, |s| &s.type_name).into(),
                can_exit: false,
                error: err.to_string(),
            });
            return Err(err);
        }
        Ok(())
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
    pub async fn read_from_acked<R: AsyncRead + Unpin>(
        &mut self,
        mut reader: R,
        mut mark: impl FnMut(u64) -> Option<Ack>,
    ) -> io::Result<()> {
        let cx = self.cx.clone();
        let mut drain_until = None;
        let mut total: u64 = 0;
        loop {
            let buf = &mut self.stream.buf;
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(buf.len().max(64 * 1024));
            }
            let (n, last) = match drain_until {
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
                    match tokio::time::timeout_at(idle.min(limit), reader.read_buf(buf)).await {
                        Ok(n) => (n?, false),
                        // Quiet (or out of time): what was received is routed.
                        Err(_) => (0, true),
                    }
                }
            };
            total += n as u64;
            let eof = n == 0 && !last;
            let consumed = |buffered: usize| mark(total - buffered as u64);
            self.flush_acked(eof, consumed)
                .await
                .map_err(io::Error::other)?;
            if n == 0 {
                return Ok(());
            }
        }
    }
}

/// At shutdown, a stream that stays quiet this long is considered drained.
pub const DRAIN_IDLE: std::time::Duration = std::time::Duration::from_millis(100);

/// At shutdown, the longest a stream is read for after the stop request.
pub const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);
