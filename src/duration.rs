//! Go's duration syntax (`time.ParseDuration`), which Heka's configs and
//! tools use for intervals: `"300ms"`, `"1.5h"`, `"2h45m"`, `"-1s"` is
//! refused here (no tool wants a negative interval). A bare `"0"` is zero;
//! any other number needs a unit: `ns`, `us` (or `µs`, `μs`), `ms`, `s`,
//! `m`, `h`.

use std::time::Duration;

/// Why a duration does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason}")]
pub struct DurationError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

const UNITS: &[(&str, f64)] = &[
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("μs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
];

/// Parses a Go duration string.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        text: text.to_owned(),
        reason,
    };
    let body = text.strip_prefix('+').unwrap_or(text);
    if body.starts_with('-') {
        return Err(err("negative durations are not allowed"));
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(err("empty"));
    }
    let mut rest = body;
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("missing unit"))?;
        let (number, tail) = rest.split_at(digits);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(err("expected a number"));
        }
        let value: f64 = number.parse().map_err(|_| err("expected a number"))?;
        let (unit, scale) = UNITS
            .iter()
            // Longest unit first where prefixes collide ("ms" before "m").
            .filter(|(u, _)| tail.starts_with(u))
            .max_by_key(|(u, _)| u.len())
            .ok_or_else(|| err("unknown unit"))?;
        nanos += value * scale;
        rest = &tail[unit.len()..];
    }
    if nanos > u64::MAX as f64 {
        return Err(err("too large"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_spellings_parse() {
        for (text, nanos) in [
            ("0", 0),
            ("0s", 0),
            ("300ms", 300_000_000),
            ("1.5h", 5_400_000_000_000),
            ("2h45m", 9_900_000_000_000),
            ("1m30s", 90_000_000_000),
            ("10us", 10_000),
            ("10µs", 10_000),
            ("7ns", 7),
            ("+1s", 1_000_000_000),
            (".5s", 500_000_000),
        ] {
            assert_eq!(parse(text).unwrap(), Duration::from_nanos(nanos), "{text}");
        }
    }

    #[test]
    fn mistakes_are_refused() {
        for text in ["", "1", "s", "1x", "1.2.3s", "-1s", "1s2", "."] {
            assert!(parse(text).is_err(), "{text}");
        }
        assert_eq!(
            parse("5").unwrap_err().to_string(),
            "invalid duration \"5\": missing unit"
        );
    }
}
