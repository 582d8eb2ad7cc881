//! RegexSplitter and PatternGroupingSplitter: splitters that cut an input's
//! byte stream where a regular expression (Go RE2 syntax, as in Heka)
//! matches. They run inside the input runner's stream, between the read
//! and the decoder; the runner handles over-long records and the partial
//! record at the end of a stream.
//!
//! RegexSplitter (Heka's): `delimiter` (default `"\n"`) with at most one
//! capture group. Without a group the delimiter is dropped. With one, the
//! captured text ends the record before it (`delimiter_eol = true`, the
//! default) or starts the record after it (`false`). Empty records are
//! skipped. A match that reaches the end of the buffered data waits for
//! more data (a longer match might follow), except at end of stream.
//!
//! PatternGroupingSplitter (in Heka's development branch only): lines cut
//! by `delimiter` (kept at their end) are grouped: a line matching
//! `grouping` continues the record of the line before it (a stack trace's
//! `\tat ...` lines), up to `max_lines` (99) lines per record. A record is
//! complete when the next line does not continue it, so the last record of
//! a live stream waits for the next line (or the end of the stream).
//!
//! Neither delivers a record ending past the record size limit (see
//! [`super::splitters`]): RegexSplitter leaves such a record to the runner,
//! which cuts off and counts its over-long start; PatternGroupingSplitter
//! ends a group at the last whole line within the limit.

use bytes::BytesMut;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{BuildError, SplitEvent, Splitter};
use regex::bytes::Regex;
use serde::Deserialize;

use super::options;

fn compile(spec: &PluginSpec, key: &str, pattern: &str) -> Result<Regex, BuildError> {
    regex::bytes::RegexBuilder::new(&heka_grammar::re2::translate(pattern))
        .octal(true)
        .build()
        .map_err(|e| BuildError::invalid(spec, format!("{key} {pattern:?}: {e}")))
}

fn default_delimiter() -> String {
    "\n".into()
}

fn yes() -> bool {
    true
}

/// `[name] type = "RegexSplitter"` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexSplitterConfig {
    /// Where records end.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Whether a captured delimiter ends the previous record (true) or
    /// starts the next one.
    #[serde(default = "yes")]
    pub delimiter_eol: bool,
}

/// Heka's RegexSplitter.
#[derive(Debug, Clone)]
pub struct RegexSplitter {
    delimiter: Regex,
    has_group: bool,
    eol: bool,
    message_bytes: bool,
    max_record: usize,
}

impl RegexSplitter {
    /// Builds the splitter `spec` describes.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Splitter>, BuildError> {
        let cfg: RegexSplitterConfig = options(spec)?;
        let delimiter = compile(spec, "delimiter", &cfg.delimiter)?;
        let groups = delimiter.captures_len() - 1;
        if groups > 1 {
            return Err(BuildError::invalid(
                spec,
                format!("delimiter may have at most one capture group, it has {groups}"),
            ));
        }
        Ok(Box::new(RegexSplitter {
            delimiter,
            has_group: groups == 1,
            eol: cfg.delimiter_eol,
            message_bytes: spec.common.use_message_bytes.unwrap_or(false),
            max_record: super::splitters::record_limit(globals),
        }))
    }
}

impl Splitter for RegexSplitter {
    fn split(&mut self, buf: &mut BytesMut, eof: bool) -> Option<SplitEvent> {
        let mut from = 0;
        loop {
            let (whole, group) = {
                let caps = self.delimiter.captures_at(buf, from)?;
                let whole = caps.get(0).expect("group 0 always matches").range();
                (
                    whole,
                    caps.get(1).filter(|_| self.has_group).map(|g| g.range()),
                )
            };
            if (whole.end == buf.len() && !eof) || whole.is_empty() {
                // A longer match may follow; an empty one cannot cut.
                return None;
            }
            let (end, consumed) = match group {
                None => (whole.start, whole.end),
                // The captured text stays to start the next record.
                Some(ref g) if !self.eol => (whole.start, g.start),
                Some(ref g) => (whole.start + g.len(), whole.end),
            };
            if consumed > self.max_record {
                return None;
            }
            if end == 0 {
                if consumed > 0 {
                    let _ = buf.split_to(consumed);
                    from = 0;
                } else {
                    // A delimiter starting the buffer starts this record.
                    from = whole.end;
                }
                continue;
            }
            let mut record = buf.split_to(consumed);
            if let (Some(g), true) = (group, self.eol) {
                // The record, then the captured text; the rest is dropped.
                record.copy_within(g, whole.start);
            }
            record.truncate(end);
            return Some(SplitEvent::Record {
                data: record.freeze(),
                signer: None,
            });
        }
    }

    fn message_bytes(&self) -> bool {
        self.message_bytes
    }
}

/// `[name] type = "PatternGroupingSplitter"` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternGroupingSplitterConfig {
    /// Where lines end (kept at their end).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Lines that continue the record before them.
    pub grouping: String,
    /// Most lines in one record.
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
}

fn default_max_lines() -> usize {
    99
}

/// Groups continuation lines with the line they continue.
#[derive(Debug, Clone)]
pub struct PatternGroupingSplitter {
    delimiter: Regex,
    grouping: Regex,
    max_lines: usize,
    max_record: usize,
}

impl PatternGroupingSplitter {
    /// Builds the splitter `spec` describes.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Splitter>, BuildError> {
        let cfg: PatternGroupingSplitterConfig = options(spec)?;
        if cfg.max_lines == 0 {
            return Err(BuildError::invalid(spec, "max_lines must be at least 1"));
        }
        Ok(Box::new(PatternGroupingSplitter {
            delimiter: compile(spec, "delimiter", &cfg.delimiter)?,
            grouping: compile(spec, "grouping", &cfg.grouping)?,
            max_lines: cfg.max_lines,
            max_record: super::splitters::record_limit(globals),
        }))
    }

    /// End of the line starting at `from` (after its delimiter), if the
    /// buffer holds all of it.
    fn line_end(&self, buf: &[u8], from: usize, eof: bool) -> Option<usize> {
        match self.delimiter.find_at(buf, from) {
            Some(m) if m.end() > from && (m.end() < buf.len() || eof) => Some(m.end()),
            _ if eof && from < buf.len() => Some(buf.len()),
            _ => None,
        }
    }
}

impl Splitter for PatternGroupingSplitter {
    fn split(&mut self, buf: &mut BytesMut, eof: bool) -> Option<SplitEvent> {
        let mut end = self.line_end(buf, 0, eof)?;
        if end > self.max_record {
            return None;
        }
        let mut lines = 1;
        while lines < self.max_lines {
            if end == buf.len() {
                if !eof {
                    // The next line decides whether this record is over.
                    return None;
                }
                break;
            }
            let next = self.line_end(buf, end, eof)?;
            if next > self.max_record || !self.grouping.is_match(&buf[end..next]) {
                break;
            }
            end = next;
            lines += 1;
        }
        Some(SplitEvent::Record {
            data: buf.split_to(end).freeze(),
            signer: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex_splitter(options: &str) -> Result<Box<dyn Splitter>, BuildError> {
        let spec = PluginSpec {
            options: toml::from_str(options).unwrap(),
            ..PluginSpec::new("split", "RegexSplitter").unwrap()
        };
        RegexSplitter::build(&spec, &Globals::default())
    }

    fn grouping(options: &str) -> Box<dyn Splitter> {
        let spec = PluginSpec {
            options: toml::from_str(options).unwrap(),
            ..PluginSpec::new("group", "PatternGroupingSplitter").unwrap()
        };
        PatternGroupingSplitter::build(&spec, &Globals::default()).unwrap()
    }

    /// Feeds `input` in chunks of `chunk` bytes and collects every record
    /// (the rest left at end of stream is returned separately).
    fn run(s: &mut dyn Splitter, input: &str, chunk: usize) -> (Vec<String>, String) {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let bytes = input.as_bytes();
        let mut at = 0;
        loop {
            let eof = at >= bytes.len();
            while let Some(event) = s.split(&mut buf, eof) {
                match event {
                    SplitEvent::Record { data, .. } => {
                        out.push(String::from_utf8(data.to_vec()).unwrap())
                    }
                    SplitEvent::Dropped { .. } => panic!("nothing is dropped here"),
                }
            }
            if eof {
                break;
            }
            let next = (at + chunk).min(bytes.len());
            buf.extend_from_slice(&bytes[at..next]);
            at = next;
        }
        (out, String::from_utf8(buf.to_vec()).unwrap())
    }

    #[test]
    fn without_a_group_the_delimiter_is_dropped() {
        for chunk in [1, 3, 100] {
            let mut s = regex_splitter("delimiter = '\\n+'").unwrap();
            let (records, rest) = run(&mut *s, "a\nbb\n\n\nccc\nrest", chunk);
            assert_eq!(records, ["a", "bb", "ccc"], "chunk {chunk}");
            assert_eq!(rest, "rest");
        }
    }

    #[test]
    fn a_captured_delimiter_ends_or_starts_a_record() {
        let text = "one line\ncontinued\n2024-01-01 two\n2024-01-02 three\n";
        let mut eol = regex_splitter("delimiter = '(\\n)\\d{4}-'").unwrap();
        let (records, rest) = run(&mut *eol, text, 4);
        assert_eq!(records, ["one line\ncontinued\n", "01-01 two\n"]);
        assert_eq!(rest, "01-02 three\n");
        let mut bol = regex_splitter("delimiter = '\\n(\\d{4}-)'\ndelimiter_eol = false").unwrap();
        let (records, rest) = run(&mut *bol, text, 4);
        assert_eq!(records, ["one line\ncontinued", "2024-01-01 two"]);
        assert_eq!(rest, "2024-01-02 three\n");
    }

    #[test]
    fn bad_delimiters_are_refused_by_name() {
        let err = regex_splitter("delimiter = '(a)(b)'").err().unwrap();
        assert!(
            err.to_string().contains("at most one capture group"),
            "{err}"
        );
        let err = regex_splitter("delimiter = '('").err().unwrap();
        assert!(err.to_string().contains("delimiter \"(\""), "{err}");
        let err = regex_splitter("delim = 'x'").err().unwrap();
        assert!(err.to_string().contains("delim"), "{err}");
    }

    #[test]
    fn continuation_lines_join_the_line_before() {
        let text = "Exception: boom\n\tat a\n\tat b\nnext line\nlast\n\tat c\n";
        for chunk in [1, 5, 1000] {
            let mut s = grouping("grouping = '^\\s'");
            let (records, rest) = run(&mut *s, text, chunk);
            assert_eq!(
                records,
                [
                    "Exception: boom\n\tat a\n\tat b\n",
                    "next line\n",
                    "last\n\tat c\n"
                ],
                "chunk {chunk}"
            );
            assert!(rest.is_empty());
        }
        let mut s = grouping("grouping = '^\\s'\nmax_lines = 2");
        let (records, _) = run(&mut *s, text, 1000);
        assert_eq!(records[0], "Exception: boom\n\tat a\n");
        assert_eq!(records[1], "\tat b\n");
    }
}
