//! Go time layouts, as Heka's decoders take them in `timestamp_layout`
//! (`"02/Jan/2006:15:04:05 -0700"`), plus Heka's `Epoch`, `EpochMilli`,
//! `EpochMicro` and `EpochNano`. A layout is compiled once into chunks and
//! parsing is allocation free: decoders call it on every record.
//!
//! Parsing follows Go's `time.Parse`: the reference-time tokens (`2006`,
//! `06`, `Jan`, `January`, `01`, `1`, `02`, `_2`, `2`, `002`, `15`, `03`,
//! `3`, `04`, `4`, `05`, `5`, `PM`, `pm`, `Mon`, `Monday`, `MST`, the
//! `-07…`/`Z07…` offsets and `.000`/`.999` fractions), anything else
//! literal; a fraction right after the seconds is accepted even when the
//! layout has none; month and day names match in any case. Like Heka's
//! forgiving parse, a layout without a year takes the current year (the
//! previous one if that lands more than a day in the future). A time
//! without an offset is read in the decoder's `timestamp_location`; a zone
//! abbreviation other than UTC/GMT/Z is read there too (Go could not
//! resolve most abbreviations either).

use jiff::civil::DateTime;

use crate::strftime::{DAYS, MONTHS};
use jiff::tz::TimeZone;

/// Why a layout or a time does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The time text does not fit the layout.
    #[error("cannot parse {text:?} as {layout:?}: {why}")]
    Mismatch {
        /// The text.
        text: String,
        /// The layout.
        layout: String,
        /// Where it went wrong.
        why: String,
    },
    /// The `timestamp_location` is not a known time zone.
    #[error("unknown time zone {0:?}: {1}")]
    Zone(String, String),
}

/// A reference-time token of a Go layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
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
    LongYear,
    Year,
    /// `PM` (`upper`) or `pm`.
    Pm {
        upper: bool,
    },
    ZoneName,
    /// An offset; `z` reads and writes "Z" for UTC, `utc` is how this
    /// form writes UTC.
    Offset {
        z: bool,
        utc: &'static str,
    },
    /// `sep` then `digits` 0s (fixed) or 9s (`trim`: trailing zeros
    /// dropped when formatting).
    Fraction {
        sep: u8,
        digits: usize,
        trim: bool,
    },
}

/// A piece of a lexed layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chunk {
    Literal(Vec<u8>),
    Token(Token),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Epoch {
    Seconds,
    Milli,
    Micro,
    Nano,
}

/// A compiled `timestamp_layout` with its `timestamp_location`.
#[derive(Debug, Clone)]
pub struct Layout {
    text: String,
    chunks: Vec<Chunk>,
    epoch: Option<Epoch>,
    has_year: bool,
    zone: TimeZone,
}

const TOKENS: &[(&str, Token)] = &[
    ("January", Token::LongMonth),
    ("Jan", Token::Month),
    ("Monday", Token::LongWeekDay),
    ("Mon", Token::WeekDay),
    ("MST", Token::ZoneName),
    ("2006", Token::LongYear),
    ("002", Token::YearDay),
    ("01", Token::ZeroMonth),
    ("02", Token::ZeroDay),
    ("03", Token::ZeroHour12),
    ("04", Token::ZeroMinute),
    ("05", Token::ZeroSecond),
    ("06", Token::Year),
    ("15", Token::Hour),
    ("1", Token::NumMonth),
    ("__2", Token::YearDay),
    ("_2", Token::UnderDay),
    ("2", Token::Day),
    ("3", Token::Hour12),
    ("4", Token::Minute),
    ("5", Token::Second),
    ("PM", Token::Pm { upper: true }),
    ("pm", Token::Pm { upper: false }),
    ("Z070000", Token::Offset { z: true, utc: "Z" }),
    ("Z07:00:00", Token::Offset { z: true, utc: "Z" }),
    ("Z0700", Token::Offset { z: true, utc: "Z" }),
    ("Z07:00", Token::Offset { z: true, utc: "Z" }),
    ("Z07", Token::Offset { z: true, utc: "Z" }),
    (
        "-070000",
        Token::Offset {
            z: false,
            utc: "+000000",
        },
    ),
    (
        "-07:00:00",
        Token::Offset {
            z: false,
            utc: "+00:00:00",
        },
    ),
    (
        "-0700",
        Token::Offset {
            z: false,
            utc: "+0000",
        },
    ),
    (
        "-07:00",
        Token::Offset {
            z: false,
            utc: "+00:00",
        },
    ),
    (
        "-07",
        Token::Offset {
            z: false,
            utc: "+00",
        },
    ),
];

/// Splits a Go layout into literal text and reference-time tokens.
pub(crate) fn lex(layout: &str) -> Vec<Chunk> {
    let bytes = layout.as_bytes();
    let mut chunks = Vec::new();
    let mut literal = Vec::new();
    let mut i = 0;
    'scan: while i < bytes.len() {
        // Bytes, not `&str`: literal text may hold multi-byte characters,
        // and every token is ASCII.
        let rest = &bytes[i..];
        // A fraction: `.` or `,` then 0s, or 9s, not followed by a digit.
        if let (b'.' | b',', Some(&digit @ (b'0' | b'9'))) = (bytes[i], bytes.get(i + 1)) {
            let digits = bytes[i + 1..].iter().take_while(|b| **b == digit).count();
            if !bytes.get(i + 1 + digits).is_some_and(u8::is_ascii_digit) {
                chunks.push(Chunk::Literal(std::mem::take(&mut literal)));
                chunks.push(Chunk::Token(Token::Fraction {
                    sep: bytes[i],
                    digits: digits.min(9),
                    trim: digit == b'9',
                }));
                i += 1 + digits;
                continue;
            }
        }
        for (name, token) in TOKENS {
            if rest.starts_with(name.as_bytes()) {
                // Go reads `Jan`+letters as literal text ("Janet").
                let next = rest.get(name.len());
                if matches!(token, Token::Month | Token::WeekDay)
                    && next.is_some_and(u8::is_ascii_lowercase)
                {
                    continue;
                }
                chunks.push(Chunk::Literal(std::mem::take(&mut literal)));
                chunks.push(Chunk::Token(*token));
                i += name.len();
                continue 'scan;
            }
        }
        literal.push(bytes[i]);
        i += 1;
    }
    chunks.push(Chunk::Literal(literal));
    chunks.retain(|c| !matches!(c, Chunk::Literal(l) if l.is_empty()));
    chunks
}

/// What a parse found.
#[derive(Debug, Default)]
struct Parts {
    year: Option<i64>,
    month: i64,
    day: i64,
    yday: Option<i64>,
    hour: i64,
    minute: i64,
    second: i64,
    nanos: i64,
    pm: Option<bool>,
    /// Seconds east of UTC.
    offset: Option<i64>,
}

struct Cursor<'a> {
    text: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    /// 1 to `max` digits (exactly `max` when `fixed`).
    fn number(&mut self, max: usize, fixed: bool) -> Result<i64, &'static str> {
        let digits = self.text[self.at..]
            .iter()
            .take(max)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || (fixed && digits != max) {
            return Err("expected a number");
        }
        let n = self.text[self.at..self.at + digits]
            .iter()
            .fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));
        self.at += digits;
        Ok(n)
    }

    /// A name from `names` (full or its 3-letter form), in any case.
    fn name(&mut self, names: &[&str], long: bool) -> Result<i64, &'static str> {
        let rest = &self.text[self.at..];
        for (i, name) in names.iter().enumerate() {
            let want = if long { name.len() } else { 3 };
            if rest.len() >= want && rest[..want].eq_ignore_ascii_case(&name.as_bytes()[..want]) {
                self.at += want;
                return Ok(i as i64);
            }
        }
        Err("expected a month or day name")
    }

    fn byte(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }
}

impl Layout {
    /// Compiles `layout` for times read in `location` ("UTC" or "" for UTC,
    /// "Local" for the system zone, else an IANA name).
    pub fn new(layout: &str, location: &str) -> Result<Layout, LayoutError> {
        let zone = match location {
            "" | "UTC" => TimeZone::UTC,
            "Local" => TimeZone::system(),
            name => TimeZone::get(name)
                .map_err(|e| LayoutError::Zone(name.to_owned(), e.to_string()))?,
        };
        let epoch = match layout {
            "Epoch" => Some(Epoch::Seconds),
            "EpochMilli" => Some(Epoch::Milli),
            "EpochMicro" => Some(Epoch::Micro),
            "EpochNano" => Some(Epoch::Nano),
            _ => None,
        };
        let chunks = lex(layout);
        let has_year = chunks
            .iter()
            .any(|c| matches!(c, Chunk::Token(Token::LongYear | Token::Year)));
        Ok(Layout {
            text: layout.to_owned(),
            chunks,
            epoch,
            has_year,
            zone,
        })
    }

    /// Whether [`Layout::parse`] reads its `now_ns` (a layout without a
    /// year); otherwise the same text always gives the same time.
    pub fn needs_now(&self) -> bool {
        self.epoch.is_none() && !self.has_year
    }

    /// Nanoseconds since the Unix epoch of `text`; `now_ns` supplies the
    /// year when the layout has none.
    pub fn parse(&self, text: &[u8], now_ns: i64) -> Result<i64, LayoutError> {
        let fail = |why: &str| LayoutError::Mismatch {
            text: String::from_utf8_lossy(text).into_owned(),
            layout: self.text.clone(),
            why: why.to_owned(),
        };
        if let Some(epoch) = self.epoch {
            return parse_epoch(text, epoch).ok_or_else(|| fail("not a number"));
        }
        let parts = self.parts(text).map_err(fail)?;
        self.resolve(parts, now_ns)
            .ok_or_else(|| fail("not a valid time"))
    }

    fn parts(&self, text: &[u8]) -> Result<Parts, &'static str> {
        let mut p = Parts {
            month: 1,
            day: 1,
            ..Parts::default()
        };
        let mut c = Cursor { text, at: 0 };
        for (i, chunk) in self.chunks.iter().enumerate() {
            let token = match chunk {
                Chunk::Literal(lit) => {
                    if !text[c.at..].starts_with(lit) {
                        return Err("text does not match the layout");
                    }
                    c.at += lit.len();
                    continue;
                }
                Chunk::Token(t) => *t,
            };
            match token {
                Token::LongMonth => p.month = c.name(&MONTHS, true)? + 1,
                Token::Month => p.month = c.name(&MONTHS, false)? + 1,
                Token::NumMonth => p.month = c.number(2, false)?,
                Token::ZeroMonth => p.month = c.number(2, true)?,
                Token::LongWeekDay => drop(c.name(&DAYS, true)?),
                Token::WeekDay => drop(c.name(&DAYS, false)?),
                Token::Day => p.day = c.number(2, false)?,
                Token::UnderDay => {
                    if c.byte() == Some(b' ') {
                        c.at += 1;
                    }
                    p.day = c.number(2, false)?;
                }
                Token::ZeroDay => p.day = c.number(2, true)?,
                Token::YearDay => p.yday = Some(c.number(3, false)?),
                Token::Hour => p.hour = c.number(2, false)?,
                Token::Hour12 => p.hour = c.number(2, false)?,
                Token::ZeroHour12 => p.hour = c.number(2, true)?,
                Token::Minute => p.minute = c.number(2, false)?,
                Token::ZeroMinute => p.minute = c.number(2, true)?,
                Token::Second | Token::ZeroSecond => {
                    p.second = c.number(2, token == Token::ZeroSecond)?;
                    // Go accepts a fraction here even if the layout has none.
                    let next_is_fraction = matches!(
                        self.chunks.get(i + 1),
                        Some(Chunk::Token(Token::Fraction { .. }))
                    );
                    if !next_is_fraction && matches!(c.byte(), Some(b'.' | b',')) {
                        p.nanos = fraction(&mut c);
                    }
                }
                Token::LongYear => p.year = Some(c.number(4, true)?),
                Token::Year => {
                    let y = c.number(2, true)?;
                    p.year = Some(if y >= 69 { 1900 + y } else { 2000 + y });
                }
                Token::Pm { .. } => {
                    let rest = &text[c.at..];
                    if rest.len() < 2 {
                        return Err("expected AM or PM");
                    }
                    p.pm = match &rest[..2] {
                        b"PM" | b"pm" => Some(true),
                        b"AM" | b"am" => Some(false),
                        _ => return Err("expected AM or PM"),
                    };
                    c.at += 2;
                }
                Token::ZoneName => {
                    let len = text[c.at..]
                        .iter()
                        .take_while(|b| b.is_ascii_uppercase())
                        .count();
                    if !(3..=5).contains(&len) && text[c.at..].first() != Some(&b'Z') {
                        return Err("expected a zone abbreviation");
                    }
                    let name = &text[c.at..c.at + len.max(1)];
                    if matches!(name, b"UTC" | b"GMT" | b"Z") {
                        p.offset = Some(0);
                    }
                    c.at += len.max(1);
                }
                Token::Offset { z, .. } => {
                    if z && c.byte() == Some(b'Z') {
                        c.at += 1;
                        p.offset = Some(0);
                        continue;
                    }
                    let sign = match c.byte() {
                        Some(b'+') => 1,
                        Some(b'-') => -1,
                        _ => return Err("expected a UTC offset"),
                    };
                    c.at += 1;
                    let hours = c.number(2, true)?;
                    if c.byte() == Some(b':') {
                        c.at += 1;
                    }
                    let minutes = c.number(2, true).unwrap_or(0);
                    if c.byte() == Some(b':') {
                        c.at += 1;
                    }
                    let seconds = c.number(2, true).unwrap_or(0);
                    p.offset = Some(sign * (hours * 3600 + minutes * 60 + seconds));
                }
                Token::Fraction { .. } => {
                    if matches!(c.byte(), Some(b'.' | b',')) {
                        p.nanos = fraction(&mut c);
                    }
                }
            }
        }
        if c.at != text.len() {
            return Err("extra text after the time");
        }
        match p.pm {
            Some(true) if p.hour < 12 => p.hour += 12,
            Some(false) if p.hour == 12 => p.hour = 0,
            _ => {}
        }
        Ok(p)
    }

    fn resolve(&self, p: Parts, now_ns: i64) -> Option<i64> {
        let to_ns = |year: i64| -> Option<i64> {
            let (month, day) = match p.yday {
                Some(yday) => month_day(year, yday)?,
                None => (p.month, p.day),
            };
            if !(1..=12).contains(&month)
                || !(1..=days_in_month(year, month)).contains(&day)
                || p.hour > 23
                || p.minute > 59
                || p.second > 60
            {
                return None;
            }
            let local = days_from_civil(year, month, day) * 86_400
                + p.hour * 3600
                + p.minute * 60
                + p.second;
            let secs = match p.offset {
                Some(offset) => local - offset,
                None if self.zone == TimeZone::UTC => local,
                None => {
                    let dt = DateTime::new(
                        year as i16,
                        month as i8,
                        day as i8,
                        p.hour as i8,
                        p.minute as i8,
                        p.second.min(59) as i8,
                        0,
                    )
                    .ok()?;
                    self.zone.to_timestamp(dt).ok()?.as_second()
                }
            };
            secs.checked_mul(1_000_000_000)?.checked_add(p.nanos)
        };
        match p.year {
            Some(year) => to_ns(year),
            None if self.has_year => None,
            None => {
                let this_year = civil_from_days(now_ns.div_euclid(86_400_000_000_000)).0;
                let t = to_ns(this_year)?;
                if t > now_ns + 86_400_000_000_000 {
                    to_ns(this_year - 1)
                } else {
                    Some(t)
                }
            }
        }
    }
}

fn fraction(c: &mut Cursor<'_>) -> i64 {
    c.at += 1;
    let mut nanos = 0i64;
    let mut scale = 100_000_000i64;
    while let Some(b) = c.byte().filter(u8::is_ascii_digit) {
        nanos += i64::from(b - b'0') * scale;
        scale /= 10;
        c.at += 1;
    }
    nanos
}

fn parse_epoch(text: &[u8], epoch: Epoch) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.trim();
    if epoch == Epoch::Seconds {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let secs: i64 = whole.parse().ok()?;
        let mut nanos = 0i64;
        let mut scale = 100_000_000i64;
        for b in frac.bytes().take(9) {
            if !b.is_ascii_digit() {
                return None;
            }
            nanos += i64::from(b - b'0') * scale;
            scale /= 10;
        }
        return secs.checked_mul(1_000_000_000)?.checked_add(nanos);
    }
    let n: i64 = text.parse().ok()?;
    match epoch {
        Epoch::Milli => n.checked_mul(1_000_000),
        Epoch::Micro => n.checked_mul(1_000),
        _ => Some(n),
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn month_day(year: i64, yday: i64) -> Option<(i64, i64)> {
    let mut left = yday;
    for month in 1..=12 {
        let n = days_in_month(year, month);
        if left <= n {
            return (left >= 1).then_some((month, left));
        }
        left -= n;
    }
    None
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The year, month and day of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub mod format;

#[cfg(test)]
mod tests;
