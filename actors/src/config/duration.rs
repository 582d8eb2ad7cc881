//! Go-style duration strings (`"250ms"`, `"1m30s"`, `"1.5h"`), as Heka's
//! config reads them with `time.ParseDuration`: `max_pack_idle`, the
//! `retries` delays, and plugin options such as `rescan_interval`.
//!
//! Differences from Go: negative durations are rejected (a
//! [`Duration`] cannot hold them and no Heka setting means one); the range
//! limit is Go's (about 292 years).

use std::time::Duration;

/// Nanoseconds per unit. A unit is the whole run of non-digits after a
/// number, so `ms` never matches `m`.
const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration: one or more `<decimal><unit>` pairs (units `ns`,
/// `us`/`µs`, `ms`, `s`, `m`, `h`; decimals like `1.5` or `.5`), or a bare
/// `0`. The message names the input like Go's does.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {s:?}");
    let mut rest = s;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if rest.starts_with('-') {
        return Err(format!("negative duration {s:?} is not allowed"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!("missing unit in duration {s:?}"));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!("unknown unit {unit:?} in duration {s:?}"));
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let nanos = whole
            .checked_mul(scale)
            .and_then(|n| n.checked_add(fraction_nanos(frac_part, scale)))
            .ok_or_else(invalid)?;
        total = total.checked_add(nanos).ok_or_else(invalid)?;
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
        rest = after;
    }
    Ok(Duration::from_nanos(total as u64))
}

/// `0.<digits>` of `scale` nanoseconds, truncated like Go. Digits past the
/// 20th cannot change a result within Go's range.
fn fraction_nanos(digits: &str, scale: u128) -> u128 {
    let mut numerator: u128 = 0;
    let mut denominator: u128 = 1;
    for digit in digits.bytes().take(20) {
        numerator = numerator * 10 + u128::from(digit - b'0');
        denominator *= 10;
    }
    numerator * scale / denominator
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        parse_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn single_units() {
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok("3us"), Duration::from_micros(3));
        assert_eq!(ok("3µs"), Duration::from_micros(3));
        assert_eq!(ok("3μs"), Duration::from_micros(3));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("+5s"), Duration::from_secs(5));
    }

    #[test]
    fn decimals_and_concatenations() {
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("5.s"), Duration::from_secs(5));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1h2m3s4ms"), Duration::from_millis(3_723_004));
        assert_eq!(ok("0.333333333333s"), Duration::from_nanos(333_333_333));
        assert_eq!(ok("1.0000000001h"), Duration::from_nanos(3_600_000_000_360));
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "", "5", "s", ".s", "5x", "1m3", "1..5s", "abc", "-1s", "1 s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_duration("5x").unwrap_err(),
            "unknown unit \"x\" in duration \"5x\""
        );
        assert_eq!(
            parse_duration("30").unwrap_err(),
            "missing unit in duration \"30\""
        );
    }

    #[test]
    fn range_is_gos() {
        // Go's maximum, 2562047h47m16.854775807s, and one nanosecond more.
        assert_eq!(ok("2562047h47m16.854775807s").as_nanos(), i64::MAX as u128);
        assert!(parse_duration("2562047h47m16.854775808s").is_err());
        assert!(parse_duration("99999999999999999999999999999999999999999h").is_err());
    }
}
