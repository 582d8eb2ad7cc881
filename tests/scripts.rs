//! The Lua sandboxes shipped in `sandboxes/`, each driven through the real
//! plugin type (SandboxDecoder, SandboxFilter, SandboxEncoder, built by the
//! `build` functions the catalogue registers) on the fixtures in
//! `tests/fixtures/`. Expected values are read off the fixture lines, not
//! copied from the output.
//!
//! - `nginx`: nginx_access.lua on the combined and a timed log_format.
//! - `rsyslog`: rsyslog.lua on three rsyslog templates.
//! - `json`: json.lua's header mapping.
//! - `filters`: http_status.lua and heka_report.lua.
//! - `encoders`: es_payload.lua and message_json.lua.
//! - `pipeline`: one hekad process, nginx lines over TCP to a cbuf file.

mod encoders;
mod filters;
mod json;
mod nginx;
mod pipeline;
mod rsyslog;

use std::path::{Path, PathBuf};

use hekad::actors::config::{Globals, PluginSpec};
use hekad::actors::pack::Pack;
use hekad::actors::plugin::{Decoder, Incoming, PluginError};
use hekad::proto::{Bytes, FieldValue, Message, MessageView};

/// A path inside the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The lines of a fixture file under `tests/fixtures/`.
pub fn fixture_lines(rel: &str) -> Vec<String> {
    let path = repo("tests/fixtures").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines().map(str::to_owned).collect()
}

/// A plugin spec for a shipped script (`sandboxes/<script>`), with the
/// shipped modules as its module_directory and `config` as `[name.config]`.
pub fn spec(type_name: &str, script: &str, config: &[(&str, toml::Value)]) -> PluginSpec {
    let mut spec = PluginSpec::new("script", type_name).unwrap();
    let path = repo("sandboxes").join(script);
    let opts = &mut spec.options;
    opts.insert("filename".into(), path.display().to_string().into());
    opts.insert(
        "module_directory".into(),
        repo("sandboxes/modules").display().to_string().into(),
    );
    let mut table = toml::Table::new();
    for (k, v) in config {
        table.insert((*k).to_owned(), v.clone());
    }
    opts.insert("config".into(), table.into());
    spec
}

/// Globals for building plugins in a test (base_dir in `dir`).
pub fn globals(dir: &Path) -> Globals {
    Globals {
        base_dir: dir.to_path_buf(),
        share_dir: dir.to_path_buf(),
        ..Globals::default()
    }
}

/// Builds a SandboxDecoder for a shipped script.
pub fn decoder(script: &str, config: &[(&str, toml::Value)]) -> Box<dyn Decoder> {
    let dir = tempfile::tempdir().unwrap();
    hekad::plugins::sandbox::SandboxDecoder::build(
        &spec("SandboxDecoder", script, config),
        &globals(dir.path()),
    )
    .unwrap_or_else(|e| panic!("{script}: {}", e.message))
}

/// The time TcpInput stamps on a record before decoding.
pub const INPUT_NS: i64 = 1_000_000_000_000_000_000;

/// A record as an input hands it to its decoder: payload = the line with
/// its newline (TokenSplitter keeps it), Hostname/Type/Logger from the input.
pub fn record(line: &str) -> Incoming {
    let mut m = Message::new([7; 16], INPUT_NS);
    m.payload = Some(Bytes::from(format!("{line}\n")));
    m.hostname = Some(Bytes::from_static(b"input-host"));
    m.r#type = Some(Bytes::from_static(b"logfile"));
    m.logger = Some(Bytes::from_static(b"LogInput"));
    Incoming::Message(Box::new(MessageView::from_message(&m).unwrap()))
}

/// Decodes one line into exactly one message, or the decoder's error.
pub fn decode(decoder: &mut Box<dyn Decoder>, line: &str) -> Result<Message, PluginError> {
    let mut out = Vec::new();
    decoder.decode(record(line), &mut out)?;
    assert_eq!(out.len(), 1, "one message per line: {line}");
    Ok(out[0].to_message())
}

/// The failure text of a line that must not decode.
pub fn decode_error(decoder: &mut Box<dyn Decoder>, line: &str) -> String {
    match decode(decoder, line) {
        Ok(m) => panic!("{line:?} decoded: {m:?}"),
        Err(PluginError::Message(text)) => text.into_owned(),
        Err(other) => panic!("{line:?}: not a per-message failure: {other:?}"),
    }
}

/// A pack for filters and encoders.
pub fn pack(msg: &Message) -> Pack {
    Pack::detached(MessageView::from_message(msg).unwrap())
}

/// Text of a field's first value (STRING or BYTES).
pub fn text(m: &Message, name: &str) -> Option<String> {
    match m.field(name.as_bytes(), 0)?.value(0)? {
        FieldValue::String(s) | FieldValue::Bytes(s) => Some(String::from_utf8_lossy(s).into()),
        other => panic!("{name} is not text: {other:?}"),
    }
}

/// Every numeric value of a field.
pub fn numbers(m: &Message, name: &str) -> Vec<f64> {
    let Some(f) = m.field(name.as_bytes(), 0) else {
        return Vec::new();
    };
    (0..f.value_count())
        .map(|i| match f.value(i) {
            Some(FieldValue::Double(d)) => d,
            Some(FieldValue::Integer(n)) => n as f64,
            other => panic!("{name} is not numeric: {other:?}"),
        })
        .collect()
}

/// The single numeric value of a field.
pub fn number(m: &Message, name: &str) -> Option<f64> {
    let all = numbers(m, name);
    assert!(all.len() <= 1, "{name} has several values: {all:?}");
    all.first().copied()
}

/// A field's representation.
pub fn representation(m: &Message, name: &str) -> Option<String> {
    let f = m.field(name.as_bytes(), 0)?;
    f.representation
        .as_ref()
        .map(|r| String::from_utf8_lossy(r).into())
}

/// A header as text.
pub fn header(value: &Option<Bytes>) -> String {
    String::from_utf8_lossy(value.as_deref().unwrap_or_default()).into_owned()
}

/// Nanoseconds of a UTC time given in seconds since the epoch.
pub fn secs(s: i64) -> i64 {
    s * 1_000_000_000
}
