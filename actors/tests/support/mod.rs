//! A test catalogue of small plugins that exercise the runtime: generating
//! inputs, a capturing output that can stall, fail or panic on demand, and a
//! filter that injects. Plugins reach their test's state through a global
//! table keyed by the `sink` option, because factories are plain fns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use heka_actors::catalogue::{Factory, PluginEntry};
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::EncodedBatch;
use heka_actors::plugin::{InputCx, LocalBoxFuture, OutputCx, SplitEvent, StreamDefaults};
use heka_actors::runner::filter::FilterCx;
use heka_actors::{BuildError, Catalogue, Filter, Input, Output, Pack, PluginError, Splitter};
use heka_proto::{Message, MessageView};

mod reads;

/// What a test observes: captured messages and knobs.
#[derive(Default)]
pub struct Sink {
    /// Captured (type, payload) per delivered message, in order.
    pub got: Mutex<Vec<(String, String)>>,
    /// While true, the output stalls before writing.
    pub stalled: AtomicBool,
    /// Fatal errors still to return from write.
    pub fail: AtomicU64,
    /// Panics still to raise from write.
    pub panics: AtomicU64,
    /// Batches written.
    pub writes: AtomicU64,
    /// While true, every write answers Retry (a peer that is down).
    pub refuse: AtomicBool,
    /// While true, every write fails without retry (a rejected batch).
    pub reject: AtomicBool,
    /// The protobuf bytes of every delivered message, in order.
    pub raw: Mutex<Vec<bytes::Bytes>>,
    /// Times a ReportingOutput was started (first instance and rebuilds).
    pub starts: AtomicU64,
    /// Fatal errors still to return from a ReportingOutput's start.
    pub start_failures: AtomicU64,
    /// Records a test decoder decoded, with the thread it ran on, in the
    /// order it decoded them (see `reads.rs`).
    pub decoded: Mutex<Vec<(u64, std::thread::ThreadId)>>,
    /// How many records a test input cut (see `reads.rs`).
    pub accepted: AtomicU64,
}

static SINKS: LazyLock<Mutex<HashMap<String, Arc<Sink>>>> = LazyLock::new(Default::default);

impl Sink {
    /// The payloads delivered so far, in order.
    pub fn payloads(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, p)| p.clone())
            .collect()
    }
}

/// The sink named `id`, created on first use.
pub fn sink(id: &str) -> Arc<Sink> {
    SINKS
        .lock()
        .unwrap()
        .entry(id.to_owned())
        .or_default()
        .clone()
}

fn opt_str(spec: &PluginSpec, key: &str) -> Option<String> {
    spec.options
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

fn opt_int(spec: &PluginSpec, key: &str) -> i64 {
    spec.options
        .get(key)
        .and_then(|v| v.as_integer())
        .unwrap_or(0)
}

/// A spec with options given as TOML text.
pub fn spec(name: &str, type_name: &str, options: &str) -> PluginSpec {
    let mut spec = PluginSpec::new(name, type_name).expect("known suffix");
    spec.options = options.parse().expect("test options are TOML");
    spec
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Builds a message of a type with a payload.
pub fn message(msg_type: &str, payload: &str) -> Message {
    let mut msg = Message::new([7; 16], 1);
    msg.r#type = Some(Bytes::copy_from_slice(msg_type.as_bytes()));
    msg.payload = Some(Bytes::copy_from_slice(payload.as_bytes()));
    msg
}

/// Emits `count` messages of type `type` (payload = index), in batches of
/// 100, then waits for the stop.
struct GenInput {
    count: i64,
    msg_type: String,
}

impl Input for GenInput {
    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let mut i = 0;
            while i < self.count && !cx.is_stopping() {
                let end = (i + 100).min(self.count);
                let batch = (i..end)
                    .map(|n| {
                        MessageView::from_message(&message(&self.msg_type, &n.to_string())).unwrap()
                    })
                    .collect();
                cx.deliver(batch).await?;
                i = end;
            }
            cx.stopped().await;
            Ok(())
        })
    }
}

/// Delivers one message, then fails: exercises input restarts.
struct FailInput;

impl Input for FailInput {
    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let view = MessageView::from_message(&message("attempt", "x")).unwrap();
            cx.deliver(vec![view]).await?;
            Err(PluginError::fatal("the input broke"))
        })
    }
}

/// Feeds the text of option `text` through its splitter in 3-byte chunks.
struct TextInput {
    text: String,
}

impl Input for TextInput {
    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let mut stream = cx
                .stream(StreamDefaults {
                    hostname: Some("peer".into()),
                    msg_type: Some("text".into()),
                    logger: None,
                })
                .map_err(|e| PluginError::fatal(e.to_string()))?;
            for chunk in self.text.as_bytes().chunks(3) {
                stream.buffer().extend_from_slice(chunk);
                stream.flush(false).await?;
            }
            stream.flush(true).await?;
            cx.stopped().await;
            Ok(())
        })
    }

    fn default_splitter(&self) -> &'static str {
        "LineSplitter"
    }
}

/// Splits after every newline.
struct LineSplitter;

impl Splitter for LineSplitter {
    fn split(&mut self, buf: &mut BytesMut, _eof: bool) -> Option<SplitEvent> {
        let at = buf.iter().position(|&b| b == b'\n')?;
        Some(SplitEvent::Record {
            data: buf.split_to(at + 1).freeze(),
            signer: None,
        })
    }
}

/// Injects `<type>.seen` for every pack; panics on a payload starting "boom".
struct EchoFilter;

impl Filter for EchoFilter {
    fn process(&mut self, pack: &Pack, cx: &mut FilterCx) -> Result<(), PluginError> {
        if pack.message.payload().starts_with(b"boom") {
            panic!("boom payload");
        }
        let mut msg = cx.new_message();
        msg.r#type = Some(Bytes::from(format!("{}.seen", text(pack.message.r#type()))));
        msg.payload = Some(Bytes::copy_from_slice(pack.message.payload()));
        cx.inject(&msg)
            .map_err(|e| PluginError::message(e.to_string()))
    }
}

/// Tags every pack with the text of its file, read when built; a file
/// starting with "broken" does not build. Watches its file (like a sandbox
/// script) so an edit reloads it.
struct FileFilter {
    path: std::path::PathBuf,
    text: String,
}

impl FileFilter {
    fn build(spec: &PluginSpec) -> Result<FileFilter, BuildError> {
        let path = std::path::PathBuf::from(need(spec, "path")?);
        let text = std::fs::read_to_string(&path).map_err(|e| BuildError::invalid(spec, e))?;
        if text.starts_with("broken") {
            return Err(BuildError::invalid(spec, "the file is broken"));
        }
        Ok(FileFilter { path, text })
    }
}

impl Filter for FileFilter {
    fn process(&mut self, _: &Pack, cx: &mut FilterCx) -> Result<(), PluginError> {
        let mut msg = cx.new_message();
        msg.r#type = Some(Bytes::from_static(b"tagged"));
        msg.payload = Some(Bytes::from(self.text.clone()));
        cx.inject(&msg)
            .map_err(|e| PluginError::message(e.to_string()))
    }

    fn watched_files(&self) -> Vec<std::path::PathBuf> {
        vec![self.path.clone()]
    }
}

/// Captures what it is given into its sink; can stall, fail or panic.
struct CaptureOutput {
    sink: Arc<Sink>,
}

impl Output for CaptureOutput {
    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            while self.sink.stalled.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if self.sink.refuse.load(Ordering::SeqCst) {
                return Err(PluginError::retry("capture output refuses"));
            }
            if self.sink.reject.load(Ordering::SeqCst) {
                return Err(PluginError::message("capture output rejects the batch"));
            }
            if self.sink.panics.load(Ordering::SeqCst) > 0 {
                self.sink.panics.fetch_sub(1, Ordering::SeqCst);
                panic!("capture output panic");
            }
            if self.sink.fail.load(Ordering::SeqCst) > 0 {
                self.sink.fail.fetch_sub(1, Ordering::SeqCst);
                return Err(PluginError::fatal("capture output failure"));
            }
            let mut got = self.sink.got.lock().unwrap();
            let mut raw = self.sink.raw.lock().unwrap();
            for pack in &batch.packs {
                got.push((text(pack.message.r#type()), text(pack.message.payload())));
                raw.push(pack.message.raw().clone());
            }
            self.sink.writes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }

    fn needs_encoder(&self) -> bool {
        false
    }
}

/// A CaptureOutput that, each time it is started, asks its context to
/// route the reports once; `prepare` fails with option `busy = 1`.
struct ReportingOutput {
    capture: CaptureOutput,
    busy: bool,
}

impl Output for ReportingOutput {
    fn prepare(&mut self) -> Result<(), PluginError> {
        match self.busy {
            true => Err(PluginError::fatal("the port is busy")),
            false => Ok(()),
        }
    }

    fn start(&mut self, cx: OutputCx) -> Result<(), PluginError> {
        self.capture.sink.starts.fetch_add(1, Ordering::SeqCst);
        let failures = &self.capture.sink.start_failures;
        if failures.load(Ordering::SeqCst) > 0 {
            failures.fetch_sub(1, Ordering::SeqCst);
            return Err(PluginError::fatal("start failure"));
        }
        tokio::task::spawn_local(async move { cx.inject_reports().await.unwrap() });
        Ok(())
    }

    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        self.capture.write(batch)
    }

    fn needs_encoder(&self) -> bool {
        false
    }
}

fn need(spec: &PluginSpec, key: &str) -> Result<String, BuildError> {
    opt_str(spec, key).ok_or_else(|| BuildError::invalid(spec, format!("`{key}` is required")))
}

/// The test catalogue.
pub fn catalogue() -> Catalogue {
    Catalogue::from_entries(&[
        PluginEntry {
            type_name: "GenInput",
            factory: Factory::Input(|spec, _: &Globals| {
                Ok(Box::new(GenInput {
                    count: opt_int(spec, "count"),
                    msg_type: opt_str(spec, "type").unwrap_or_else(|| "gen".into()),
                }))
            }),
        },
        PluginEntry {
            type_name: "FailInput",
            factory: Factory::Input(|_, _| Ok(Box::new(FailInput))),
        },
        PluginEntry {
            type_name: "TextInput",
            factory: Factory::Input(|spec, _| {
                Ok(Box::new(TextInput {
                    text: need(spec, "text")?,
                }))
            }),
        },
        PluginEntry {
            type_name: "ReadsInput",
            factory: Factory::Input(|spec, _| Ok(Box::new(reads::ReadsInput::build(spec)?))),
        },
        PluginEntry {
            type_name: "LogDecoder",
            factory: Factory::Decoder(|spec, _| Ok(Box::new(reads::LogDecoder::build(spec)?))),
        },
        PluginEntry {
            type_name: "LineSplitter",
            factory: Factory::Splitter(|_, _| Ok(Box::new(LineSplitter))),
        },
        PluginEntry {
            type_name: "EchoFilter",
            factory: Factory::Filter(|_, _| Ok(Box::new(EchoFilter))),
        },
        PluginEntry {
            type_name: "FileFilter",
            factory: Factory::Filter(|spec, _| Ok(Box::new(FileFilter::build(spec)?))),
        },
        PluginEntry {
            type_name: "CaptureOutput",
            factory: Factory::Output(|spec, _| {
                Ok(Box::new(CaptureOutput {
                    sink: sink(&need(spec, "sink")?),
                }))
            }),
        },
        PluginEntry {
            type_name: "ReportingOutput",
            factory: Factory::Output(|spec, _| {
                Ok(Box::new(ReportingOutput {
                    capture: CaptureOutput {
                        sink: sink(&need(spec, "sink")?),
                    },
                    busy: opt_int(spec, "busy") == 1,
                }))
            }),
        },
    ])
}

/// Runs `f` inside a fresh actix System and returns its result.
pub fn in_system<F, T>(f: impl FnOnce() -> F) -> T
where
    F: std::future::Future<Output = T>,
{
    actix_rt::System::new().block_on(f())
}

/// Polls `cond` every 5 ms for up to `secs` seconds.
pub async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

/// Test globals (a fixed hostname).
pub fn globals() -> Globals {
    Globals {
        hostname: "test-host".into(),
        ..Globals::default()
    }
}

/// A CaptureOutput into sink `sink_id` matching `matcher`.
pub fn output(name: &str, sink_id: &str, matcher: &str) -> PluginSpec {
    let mut s = spec(name, "CaptureOutput", &format!("sink = {sink_id:?}"));
    s.common.message_matcher = Some(matcher.into());
    s
}
