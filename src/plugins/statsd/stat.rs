//! One statsd measurement ([`Stat`]) and the statsd line protocol that
//! StatsdInput receives: `<bucket>:<value>|<type>[|@<sample rate>]`, one
//! per line, several lines per datagram. StatFilter builds the same
//! [`Stat`]s from message fields; StatAccumInput aggregates them.
//!
//! Types: `c` counter (with `|@rate`, the value counts `1/rate` times),
//! `ms` timer, `g` gauge (a value with a leading `+` or `-` changes the
//! gauge instead of setting it, as statsd does), `s` set (counts distinct
//! values). Like Heka, `m` (meter) counts as a counter; unlike Heka, which
//! also counted them, `h` (histogram) is a timer, as statsd has it.
//! Sections after the type that are not `@rate` (DogStatsD's `#tags`) are
//! ignored, as Heka ignored them.

/// What a [`Stat`] measures.
#[derive(Debug, Clone, PartialEq)]
pub enum StatKind {
    /// Adds `value / sample_rate` to a counter.
    Counter {
        /// The value sent.
        value: f64,
        /// The client's sampling rate (0, 1].
        sample_rate: f64,
    },
    /// One timing, in milliseconds.
    Timer(f64),
    /// Sets a gauge.
    Gauge(f64),
    /// Adds to a gauge (`+n` / `-n`).
    GaugeDelta(f64),
    /// One member of a set.
    Set(String),
}

/// One measurement for a bucket (the metric's name).
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    /// The metric name.
    pub bucket: String,
    /// What was measured.
    pub kind: StatKind,
}

/// Why a statsd line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadLine {
    /// No `:` after the bucket.
    #[error("no ':' after the bucket")]
    NoColon,
    /// No `|` after the value.
    #[error("no '|' after the value")]
    NoType,
    /// An empty bucket, or one with whitespace (a graphite line cannot
    /// carry it).
    #[error("empty bucket or whitespace in it")]
    Bucket,
    /// The value is not a finite number.
    #[error("the value is not a number")]
    Value,
    /// Not one of c, ms, g, s, h, m.
    #[error("unknown metric type")]
    Type,
    /// `@rate` is not a number above 0.
    #[error("bad sample rate")]
    SampleRate,
}

/// Whether `bucket` can name a graphite metric: not empty, no whitespace
/// or control characters.
pub fn valid_bucket(bucket: &str) -> bool {
    !bucket.is_empty() && !bucket.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Parses one statsd line (already without its newline).
pub fn parse_line(line: &str) -> Result<Stat, BadLine> {
    let (bucket, rest) = line.split_once(':').ok_or(BadLine::NoColon)?;
    if !valid_bucket(bucket) {
        return Err(BadLine::Bucket);
    }
    let mut sections = rest.split('|');
    let value = sections.next().unwrap_or_default();
    let kind = sections.next().ok_or(BadLine::NoType)?;
    let mut sample_rate = 1.0;
    for section in sections {
        if let Some(rate) = section.strip_prefix('@') {
            sample_rate = rate
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0)
                .ok_or(BadLine::SampleRate)?;
        }
    }
    let number = || {
        value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or(BadLine::Value)
    };
    let kind = match kind {
        "c" | "m" => StatKind::Counter {
            value: number()?,
            sample_rate,
        },
        "ms" | "h" => StatKind::Timer(number()?),
        "g" if value.starts_with(['+', '-']) => StatKind::GaugeDelta(number()?),
        "g" => StatKind::Gauge(number()?),
        "s" if !value.is_empty() => StatKind::Set(value.to_owned()),
        "s" => return Err(BadLine::Value),
        _ => return Err(BadLine::Type),
    };
    Ok(Stat {
        bucket: bucket.to_owned(),
        kind,
    })
}

/// Parses a datagram: every non-blank line (trimmed of spaces, tabs and
/// CR) becomes a [`Stat`] in `stats`, or is handed to `bad`.
pub fn parse_datagram(data: &[u8], stats: &mut Vec<Stat>, mut bad: impl FnMut(&[u8], BadLine)) {
    for raw in data.split(|&b| b == b'\n') {
        let line = raw.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let parsed = std::str::from_utf8(line)
            .map_err(|_| BadLine::Bucket)
            .and_then(parse_line);
        match parsed {
            Ok(stat) => stats.push(stat),
            Err(why) => bad(line, why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(bucket: &str, kind: StatKind) -> Stat {
        Stat {
            bucket: bucket.into(),
            kind,
        }
    }

    #[test]
    fn the_four_types_and_sample_rates() {
        assert_eq!(
            parse_line("hits:1|c").unwrap(),
            stat(
                "hits",
                StatKind::Counter {
                    value: 1.0,
                    sample_rate: 1.0
                }
            )
        );
        assert_eq!(
            parse_line("hits:2|c|@0.1").unwrap(),
            stat(
                "hits",
                StatKind::Counter {
                    value: 2.0,
                    sample_rate: 0.1
                }
            )
        );
        assert_eq!(
            parse_line("t:320.5|ms").unwrap(),
            stat("t", StatKind::Timer(320.5))
        );
        assert_eq!(
            parse_line("t:3|ms|@0.5").unwrap(),
            stat("t", StatKind::Timer(3.0))
        );
        assert_eq!(
            parse_line("t:3|h").unwrap(),
            stat("t", StatKind::Timer(3.0))
        );
        assert_eq!(
            parse_line("g:42|g").unwrap(),
            stat("g", StatKind::Gauge(42.0))
        );
        assert_eq!(
            parse_line("g:+4|g").unwrap(),
            stat("g", StatKind::GaugeDelta(4.0))
        );
        assert_eq!(
            parse_line("g:-4.5|g").unwrap(),
            stat("g", StatKind::GaugeDelta(-4.5))
        );
        assert_eq!(
            parse_line("u:alice|s").unwrap(),
            stat("u", StatKind::Set("alice".into()))
        );
        // DogStatsD tags are ignored.
        assert!(parse_line("hits:1|c|#env:prod").is_ok());
    }

    #[test]
    fn bad_lines_say_why() {
        assert_eq!(parse_line("hits"), Err(BadLine::NoColon));
        assert_eq!(parse_line("hits:1"), Err(BadLine::NoType));
        assert_eq!(parse_line(":1|c"), Err(BadLine::Bucket));
        assert_eq!(parse_line("a b:1|c"), Err(BadLine::Bucket));
        assert_eq!(parse_line("hits:x|c"), Err(BadLine::Value));
        assert_eq!(parse_line("hits:inf|c"), Err(BadLine::Value));
        assert_eq!(parse_line("hits:1|q"), Err(BadLine::Type));
        assert_eq!(parse_line("hits:1|c|@0"), Err(BadLine::SampleRate));
        assert_eq!(parse_line("hits:1|c|@x"), Err(BadLine::SampleRate));
        assert_eq!(parse_line("u:|s"), Err(BadLine::Value));
    }

    #[test]
    fn datagrams_hold_many_lines() {
        let mut stats = Vec::new();
        let mut bad = Vec::new();
        parse_datagram(
            b"a:1|c\r\n\n  b:2|ms \nnonsense\nc:3|g\n",
            &mut stats,
            |line, why| bad.push((line.to_vec(), why)),
        );
        let buckets: Vec<&str> = stats.iter().map(|s| s.bucket.as_str()).collect();
        assert_eq!(buckets, ["a", "b", "c"]);
        assert_eq!(bad, [(b"nonsense".to_vec(), BadLine::NoColon)]);
    }
}
