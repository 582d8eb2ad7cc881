//! Test plugins for pipelined decoding: an input that hands its stream
//! numbered lines a read at a time (like LogstreamerInput), and a decoder
//! that logs which record it decoded on which thread, and can be slow or
//! fail fatally on chosen records.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use heka_actors::config::PluginSpec;
use heka_actors::plugin::{Incoming, InputCx, LocalBoxFuture, StreamDefaults};
use heka_actors::{BuildError, Decoder, Input, PluginError};
use heka_proto::MessageView;

use super::{Sink, message, opt_int, sink};

/// Cuts `reads` reads of `per_read` lines ("0\n", "1\n", …) through its
/// stream with `flush_pipelined`, or reads until stopped with
/// `forever = true`; drains, stores how many records it cut in its sink's
/// `accepted`, and waits for the stop.
pub(super) struct ReadsInput {
    pub sink: Arc<Sink>,
    pub reads: i64,
    pub per_read: i64,
    pub forever: bool,
}

impl ReadsInput {
    pub fn build(spec: &PluginSpec) -> Result<ReadsInput, BuildError> {
        Ok(ReadsInput {
            sink: sink(&super::need(spec, "sink")?),
            reads: opt_int(spec, "reads"),
            per_read: opt_int(spec, "per_read"),
            forever: spec.options.get("forever").and_then(|v| v.as_bool()) == Some(true),
        })
    }
}

impl Input for ReadsInput {
    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let mut stream = cx
                .stream(StreamDefaults::default())
                .map_err(|e| PluginError::fatal(e.to_string()))?;
            let (mut n, mut read) = (0, 0);
            while (self.forever || read < self.reads) && !cx.is_stopping() {
                let mut text = String::new();
                for _ in 0..self.per_read {
                    let _ = writeln!(text, "{n}");
                    n += 1;
                }
                stream.buffer().extend_from_slice(text.as_bytes());
                stream.flush_pipelined(false, |_| None).await?;
                read += 1;
                // Lets the stop request in between reads.
                tokio::task::yield_now().await;
            }
            stream.drain().await?;
            self.sink.accepted.store(n as u64, Ordering::SeqCst);
            cx.stopped().await;
            Ok(())
        })
    }

    fn default_splitter(&self) -> &'static str {
        "LineSplitter"
    }
}

/// Makes each line "n\n" a message of type `decoded` with payload "n",
/// logging (n, thread) in its sink's `decoded`. Sleeps `slow_ms` on every
/// record whose n is a multiple of `slow_every`; fails fatally on record
/// `fatal_at`. Stateless, so a stream may decode it in parallel.
pub(super) struct LogDecoder {
    pub sink: Arc<Sink>,
    pub slow_every: u64,
    pub slow_ms: u64,
    pub fatal_at: Option<u64>,
}

impl LogDecoder {
    pub fn build(spec: &PluginSpec) -> Result<LogDecoder, BuildError> {
        Ok(LogDecoder {
            sink: sink(&super::need(spec, "sink")?),
            slow_every: opt_int(spec, "slow_every") as u64,
            slow_ms: opt_int(spec, "slow_ms") as u64,
            fatal_at: spec
                .options
                .get("fatal_at")
                .and_then(|v| v.as_integer())
                .map(|n| n as u64),
        })
    }
}

impl Decoder for LogDecoder {
    fn decode(&mut self, input: Incoming, out: &mut Vec<MessageView>) -> Result<(), PluginError> {
        let Incoming::Text(text) = input else {
            return Err(PluginError::message("not a text record"));
        };
        let line = String::from_utf8_lossy(text.payload()).trim().to_owned();
        let n: u64 = line
            .parse()
            .map_err(|_| PluginError::message("not a number"))?;
        self.sink
            .decoded
            .lock()
            .unwrap()
            .push((n, std::thread::current().id()));
        if self.fatal_at == Some(n) {
            return Err(PluginError::fatal(format!("record {n} is fatal")));
        }
        if self.slow_every > 0 && n % self.slow_every == 0 {
            std::thread::sleep(Duration::from_millis(self.slow_ms));
        }
        out.push(MessageView::from_message(&message("decoded", &line)).unwrap());
        Ok(())
    }

    fn parallel(&self) -> bool {
        true
    }
}
