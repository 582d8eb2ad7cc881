//! Go time layouts for *formatting* in UTC: the ElasticSearch encoders'
//! `timestamp` option (`"2006-01-02T15:04:05.000Z"`). The layout is lexed
//! once by the same lexer parsing uses (the parent module); formatting is
//! a walk over its chunks per message. Times are always UTC, so `MST`
//! writes `UTC`, `-0700` writes `+0000` and the `Z` forms write `Z`. A lone
//! `Z` (as in the default layout) is literal text.

use std::fmt::Write as _;

use super::{Chunk, Token, lex};
use crate::strftime::{DAYS, MONTHS, Tm};

/// A layout compiled for formatting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoLayout {
    chunks: Vec<Chunk>,
}

impl GoLayout {
    /// Compiles `layout`.
    pub fn new(layout: &str) -> GoLayout {
        GoLayout {
            chunks: lex(layout),
        }
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
                    out.push_str(&String::from_utf8_lossy(text));
                    Ok(())
                }
                Chunk::Token(Token::LongYear) => write!(out, "{:04}", tm.year),
                Chunk::Token(Token::Year) => write!(out, "{:02}", tm.year.rem_euclid(100)),
                Chunk::Token(Token::LongMonth) => {
                    out.push_str(MONTHS[tm.month as usize - 1]);
                    Ok(())
                }
                Chunk::Token(Token::Month) => {
                    out.push_str(&MONTHS[tm.month as usize - 1][..3]);
                    Ok(())
                }
                Chunk::Token(Token::NumMonth) => write!(out, "{}", tm.month),
                Chunk::Token(Token::ZeroMonth) => write!(out, "{:02}", tm.month),
                Chunk::Token(Token::LongWeekDay) => {
                    out.push_str(DAYS[tm.weekday as usize]);
                    Ok(())
                }
                Chunk::Token(Token::WeekDay) => {
                    out.push_str(&DAYS[tm.weekday as usize][..3]);
                    Ok(())
                }
                Chunk::Token(Token::Day) => write!(out, "{}", tm.day),
                Chunk::Token(Token::UnderDay) => write!(out, "{:>2}", tm.day),
                Chunk::Token(Token::ZeroDay) => write!(out, "{:02}", tm.day),
                Chunk::Token(Token::YearDay) => write!(out, "{:03}", tm.yday),
                Chunk::Token(Token::Hour) => write!(out, "{:02}", tm.hour),
                Chunk::Token(Token::Hour12) => write!(out, "{hour12}"),
                Chunk::Token(Token::ZeroHour12) => write!(out, "{hour12:02}"),
                Chunk::Token(Token::Minute) => write!(out, "{}", tm.minute),
                Chunk::Token(Token::ZeroMinute) => write!(out, "{:02}", tm.minute),
                Chunk::Token(Token::Second) => write!(out, "{}", tm.second),
                Chunk::Token(Token::ZeroSecond) => write!(out, "{:02}", tm.second),
                Chunk::Token(Token::Pm { upper }) => {
                    let pm = tm.hour >= 12;
                    out.push_str(match (pm, *upper) {
                        (true, true) => "PM",
                        (false, true) => "AM",
                        (true, false) => "pm",
                        (false, false) => "am",
                    });
                    Ok(())
                }
                Chunk::Token(Token::ZoneName) => {
                    out.push_str("UTC");
                    Ok(())
                }
                Chunk::Token(Token::Offset { utc: text, .. }) => {
                    out.push_str(text);
                    Ok(())
                }
                Chunk::Token(Token::Fraction { sep, digits, trim }) => {
                    let all = format!("{:09}", tm.nanos);
                    let mut frac = &all[..*digits];
                    if *trim {
                        frac = frac.trim_end_matches('0');
                    }
                    if !frac.is_empty() {
                        out.push(char::from(*sep));
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
