//! LogOutput: the end of a pipeline branch that prints. Its OutputRunner
//! encodes each matched pack with the configured encoder (one is required,
//! as in Heka), and this output writes every encoded record to stdout as one
//! log line, prefixed the way Go's `log` package did per `[hekad] log_flags`.
//!
//! Decisions:
//! - The timestamp prefix is always UTC (Go's `log` used local time unless
//!   `LUTC` was set); hekad carries no time-zone database.
//! - Of Go's flags only [`LDATE`], [`LTIME`] and [`LMICROSECONDS`] change
//!   the prefix; the file/line flags named Heka's Go source and are ignored.
//! - Writes go through a locked std stdout with one `BufWriter` per batch:
//!   a blocking call on the runner's arbiter, acceptable for a debugging
//!   output, and the lock keeps a batch's lines together.

use std::io::{BufWriter, Write};

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::{EncodedBatch, now_ns};
use heka_actors::plugin::{BuildError, LocalBoxFuture, Output, PluginError};
use serde::Deserialize;

/// Go `log` flag: the date, `2009/01/23`.
pub const LDATE: i64 = 1;
/// Go `log` flag: the time, `01:23:23`.
pub const LTIME: i64 = 2;
/// Go `log` flag: microseconds after the time, `01:23:23.123123`.
pub const LMICROSECONDS: i64 = 4;

/// LogOutput's own options: none (like Heka's).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogOutputConfig {}

/// Prints encoded records to stdout, one log line each.
#[derive(Debug)]
pub struct LogOutput {
    flags: i64,
    line: Vec<u8>,
}

impl LogOutput {
    /// A LogOutput prefixing lines per Go `log` `flags`.
    pub fn new(flags: i64) -> LogOutput {
        LogOutput {
            flags,
            line: Vec::new(),
        }
    }

    fn write_batch(&mut self, batch: &EncodedBatch) -> std::io::Result<()> {
        let now = now_ns();
        let stdout = std::io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        for record in batch.records() {
            self.line.clear();
            format_line(self.flags, now, record, &mut self.line);
            out.write_all(&self.line)?;
        }
        out.flush()
    }
}

/// Appends one log line for `record` to `out`: the Go `log` prefix for
/// `flags` at `now_ns` (UTC), the record, and a newline unless the record
/// already ends with one.
pub fn format_line(flags: i64, now_ns: i64, record: &[u8], out: &mut Vec<u8>) {
    let secs = now_ns.div_euclid(1_000_000_000);
    let micros = now_ns.rem_euclid(1_000_000_000) / 1_000;
    if flags & LDATE != 0 {
        let (y, m, d) = crate::render::civil_from_days(secs.div_euclid(86_400));
        out.extend_from_slice(format!("{y:04}/{m:02}/{d:02} ").as_bytes());
    }
    if flags & (LTIME | LMICROSECONDS) != 0 {
        let rem = secs.rem_euclid(86_400);
        let (h, min, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
        out.extend_from_slice(format!("{h:02}:{min:02}:{s:02}").as_bytes());
        if flags & LMICROSECONDS != 0 {
            out.extend_from_slice(format!(".{micros:06}").as_bytes());
        }
        out.push(b' ');
    }
    out.extend_from_slice(record);
    if record.last() != Some(&b'\n') {
        out.push(b'\n');
    }
}

impl Output for LogOutput {
    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        // A failing stdout (closed pipe) is not worth holding the pipeline
        // for: the batch is reported and dropped, as Go's log ignored it.
        let result = self
            .write_batch(batch)
            .map_err(|err| PluginError::message(format!("writing to stdout: {err}")));
        Box::pin(async move { result })
    }
}

/// Builds a LogOutput; its prefix follows `[hekad] log_flags`.
pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Output>, BuildError> {
    let _: LogOutputConfig = super::options(spec)?;
    Ok(Box::new(LogOutput::new(globals.log_flags)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2009-01-23 01:23:23.123123456 UTC
    const T: i64 = 1_232_673_803_123_123_456;

    fn line(flags: i64, record: &[u8]) -> String {
        let mut out = Vec::new();
        format_line(flags, T, record, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn default_flags_prefix_date_and_time() {
        assert_eq!(line(3, b"hello"), "2009/01/23 01:23:23 hello\n");
    }

    #[test]
    fn zero_flags_print_the_record_alone() {
        assert_eq!(line(0, b"hello"), "hello\n");
    }

    #[test]
    fn existing_newline_is_not_doubled() {
        assert_eq!(line(0, b"hello\n"), "hello\n");
        assert_eq!(line(0, b"a\nb"), "a\nb\n");
        assert_eq!(line(0, b""), "\n");
    }

    #[test]
    fn each_flag_adds_its_part() {
        assert_eq!(line(LDATE, b"x"), "2009/01/23 x\n");
        assert_eq!(line(LTIME, b"x"), "01:23:23 x\n");
        assert_eq!(line(LMICROSECONDS, b"x"), "01:23:23.123123 x\n");
        assert_eq!(line(7, b"x"), "2009/01/23 01:23:23.123123 x\n");
        // File/line flags (8, 16) and LUTC (32) add nothing.
        assert_eq!(line(3 | 8 | 16 | 32, b"x"), "2009/01/23 01:23:23 x\n");
    }

    #[test]
    fn build_rejects_options_and_follows_log_flags() {
        let mut spec = PluginSpec::new("Log", "LogOutput").unwrap();
        let output = build(&spec, &Globals::default()).unwrap();
        assert!(output.needs_encoder());
        spec.options.insert("path".into(), toml::Value::from("x"));
        assert!(build(&spec, &Globals::default()).is_err());
    }
}
