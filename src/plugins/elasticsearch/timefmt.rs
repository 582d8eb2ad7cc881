//! Go time layouts for *formatting* in UTC: the ElasticSearch encoders'
//! `timestamp` option (`"2006-01-02T15:04:05.000Z"`). A layout is compiled
//! once into chunks; formatting is a walk over them per message. Parsing
//! layouts is `crate::golayout`'s job.
//!
//! The reference-time tokens are Go's: `2006` `06` `January` `Jan` `01` `1`
//! `Monday` `Mon` `02` `_2` `2` `002` `15` `03` `3` `04` `4` `05` `5` `PM`
//! `pm` `MST`, the offsets `-0700` `-07:00` `-07` `-070000` `-07:00:00`
//! and their `Z` forms, and fractions `.000`/`.999` (or with a comma).
//! Times are always UTC, so `MST` writes `UTC`, `-0700` writes `+0000`
//! and the `Z` forms write `Z`. A lone `Z` (as in the default layout) is
//! literal text.

use std::fmt::Write as _;

use crate::strftime::Tm;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Chunk {
    Literal(String),
    LongYear,
    Year,
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    YearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    Pm {
        upper: bool,
    },
    ZoneName,
    /// Offset text for UTC: `Z` or the `-07…` form's zeros.
    Offset(&'static str),
    /// `sep`, then `digits` digits of the fraction (`trim`: 9s, trailing
    /// zeros dropped).
    Fraction {
        sep: char,
        digits: usize,
        trim: bool,
    },
}

/// Tokens by their text, longest first where one is a prefix of another.
const TOKENS: &[(&str, Chunk)] = &[
    ("2006", Chunk::LongYear),
    ("002", Chunk::YearDay),
    ("01", Chunk::ZeroMonth),
    ("02", Chunk::ZeroDay),
    ("03", Chunk::ZeroHour12),
    ("04", Chunk::ZeroMinute),
    ("05", Chunk::ZeroSecond),
    ("06", Chunk::Year),
    ("15", Chunk::Hour),
    ("1", Chunk::NumMonth),
    ("_2", Chunk::UnderDay),
    ("2", Chunk::Day),
    ("3", Chunk::Hour12),
    ("4", Chunk::Minute),
    ("5", Chunk::Second),
    ("PM", Chunk::Pm { upper: true }),
    ("pm", Chunk::Pm { upper: false }),
    ("MST", Chunk::ZoneName),
    ("Z070000", Chunk::Offset("Z")),
    ("Z07:00:00", Chunk::Offset("Z")),
    ("Z0700", Chunk::Offset("Z")),
    ("Z07:00", Chunk::Offset("Z")),
    ("Z07", Chunk::Offset("Z")),
    ("-070000", Chunk::Offset("+000000")),
    ("-07:00:00", Chunk::Offset("+00:00:00")),
    ("-0700", Chunk::Offset("+0000")),
    ("-07:00", Chunk::Offset("+00:00")),
    ("-07", Chunk::Offset("+00")),
];

/// A compiled layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoLayout {
    chunks: Vec<Chunk>,
}

/// Month and day names: `Jan`/`Mon` followed by a lowercase letter are
/// literal text (Go reads "Janet" as text).
fn name_token(rest: &str) -> Option<(usize, Chunk)> {
    let lower_after = |n: usize| rest[n..].starts_with(|c: char| c.is_ascii_lowercase());
    if rest.starts_with("January") {
        return Some((7, Chunk::LongMonth));
    }
    if rest.starts_with("Monday") {
        return Some((6, Chunk::LongWeekDay));
    }
    if rest.starts_with("Jan") && !lower_after(3) {
        return Some((3, Chunk::Month));
    }
    if rest.starts_with("Mon") && !lower_after(3) {
        return Some((3, Chunk::WeekDay));
    }
    None
}

fn fraction(rest: &str) -> Option<(usize, Chunk)> {
    let mut chars = rest.chars();
    let sep = chars.next().filter(|c| matches!(c, '.' | ','))?;
    let digit = rest[1..]
        .chars()
        .next()
        .filter(|c| matches!(c, '0' | '9'))?;
    let digits = rest[1..].chars().take_while(|&c| c == digit).count();
    if rest[1 + digits..].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some((
        1 + digits,
        Chunk::Fraction {
            sep,
            digits: digits.min(9),
            trim: digit == '9',
        },
    ))
}

impl GoLayout {
    /// Compiles `layout`.
    pub fn new(layout: &str) -> GoLayout {
        let mut chunks = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while i < layout.len() {
            let rest = &layout[i..];
            let found = name_token(rest).or_else(|| fraction(rest)).or_else(|| {
                TOKENS
                    .iter()
                    .find(|(text, _)| rest.starts_with(text))
                    .map(|(text, chunk)| (text.len(), chunk.clone()))
            });
            match found {
                Some((len, chunk)) => {
                    if !literal.is_empty() {
                        chunks.push(Chunk::Literal(std::mem::take(&mut literal)));
                    }
                    chunks.push(chunk);
                    i += len;
                }
                None => {
                    let c = rest.chars().next().expect("inside the layout");
                    literal.push(c);
                    i += c.len_utf8();
                }
            }
        }
        if !literal.is_empty() {
            chunks.push(Chunk::Literal(literal));
        }
        GoLayout { chunks }
    }

    /// Appends the UTC time `ns` nanoseconds after the epoch.
    pub fn format_into(&self, out: &mut String, ns: i64) {
        let tm = Tm::utc(ns);
        let hour12 = match tm.hour % 12 {
            0 => 12,
            h => h,
        };
        for chunk in &self.chunks {
            let _ = match chunk {
                Chunk::Literal(text) => {
                    out.push_str(text);
                    Ok(())
                }
                Chunk::LongYear => write!(out, "{:04}", tm.year),
                Chunk::Year => write!(out, "{:02}", tm.year.rem_euclid(100)),
                Chunk::LongMonth => {
                    out.push_str(MONTHS[tm.month as usize - 1]);
                    Ok(())
                }
                Chunk::Month => {
                    out.push_str(&MONTHS[tm.month as usize - 1][..3]);
                    Ok(())
                }
                Chunk::NumMonth => write!(out, "{}", tm.month),
                Chunk::ZeroMonth => write!(out, "{:02}", tm.month),
                Chunk::LongWeekDay => {
                    out.push_str(DAYS[tm.weekday as usize]);
                    Ok(())
                }
                Chunk::WeekDay => {
                    out.push_str(&DAYS[tm.weekday as usize][..3]);
                    Ok(())
                }
                Chunk::Day => write!(out, "{}", tm.day),
                Chunk::UnderDay => write!(out, "{:>2}", tm.day),
                Chunk::ZeroDay => write!(out, "{:02}", tm.day),
                Chunk::YearDay => write!(out, "{:03}", tm.yday),
                Chunk::Hour => write!(out, "{:02}", tm.hour),
                Chunk::Hour12 => write!(out, "{hour12}"),
                Chunk::ZeroHour12 => write!(out, "{hour12:02}"),
                Chunk::Minute => write!(out, "{}", tm.minute),
                Chunk::ZeroMinute => write!(out, "{:02}", tm.minute),
                Chunk::Second => write!(out, "{}", tm.second),
                Chunk::ZeroSecond => write!(out, "{:02}", tm.second),
                Chunk::Pm { upper } => {
                    let pm = tm.hour >= 12;
                    out.push_str(match (pm, upper) {
                        (true, true) => "PM",
                        (false, true) => "AM",
                        (true, false) => "pm",
                        (false, false) => "am",
                    });
                    Ok(())
                }
                Chunk::ZoneName => {
                    out.push_str("UTC");
                    Ok(())
                }
                Chunk::Offset(text) => {
                    out.push_str(text);
                    Ok(())
                }
                Chunk::Fraction { sep, digits, trim } => {
                    let all = format!("{:09}", tm.nanos);
                    let mut frac = &all[..*digits];
                    if *trim {
                        frac = frac.trim_end_matches('0');
                    }
                    if !frac.is_empty() {
                        out.push(*sep);
                        out.push_str(frac);
                    }
                    Ok(())
                }
            };
        }
    }

    /// The UTC time `ns` as text.
    pub fn format(&self, ns: i64) -> String {
        let mut out = String::new();
        self.format_into(&mut out, ns);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2013-07-01 17:44:37.5 UTC, a Monday, day 182.
    const T: i64 = 1_372_700_677_500_000_000;

    #[test]
    fn heka_default_and_go_reference_layouts() {
        let f = |layout: &str, ns: i64| GoLayout::new(layout).format(ns);
        assert_eq!(f("2006-01-02T15:04:05.000Z", T), "2013-07-01T17:44:37.500Z");
        assert_eq!(f("2006-01-02T15:04:05.000Z", 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            f("Mon Jan _2 15:04:05 MST 2006", T),
            "Mon Jul  1 17:44:37 UTC 2013"
        );
        assert_eq!(
            f("Monday, 02-January-06 03:04:05 PM -0700", T),
            "Monday, 01-July-13 05:44:37 PM +0000"
        );
        assert_eq!(f("2006-01-02T15:04:05Z07:00", T), "2013-07-01T17:44:37Z");
        assert_eq!(f("15:04:05.999999999", T), "17:44:37.5");
        assert_eq!(f("15:04:05.999", T - 500_000_000), "17:44:37");
        assert_eq!(f("05,000000", T), "37,500000");
        assert_eq!(f("002 1/2 3:4:5 pm", T), "182 7/1 5:44:37 pm");
        // Words that only start like tokens stay text.
        assert_eq!(f("Janet", T), "Janet");
    }
}
