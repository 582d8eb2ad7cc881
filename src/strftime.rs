//! C `strftime` formatting of message timestamps, for plugin options that
//! Heka documents as strftime patterns (PayloadEncoder's `ts_format`, and
//! later the date parts of ElasticSearch index names). Times are rendered
//! in UTC: hekad keeps no time zone database, so `%z` is `+0000` and `%Z`
//! is `UTC`. Names are the C locale's.
//!
//! Supported: `%a %A %b %B %c %C %d %D %e %f %F %h %H %I %j %k %l %m %M %n
//! %p %P %r %R %s %S %t %T %u %w %x %X %y %Y %z %Z %%`, where `%f` is the
//! microseconds (six digits). Any other `%` sequence is copied unchanged.

use std::fmt::Write as _;

/// Day names, Sunday first.
pub(crate) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
/// Month names, January first.
pub(crate) const MONTHS: [&str; 12] = [
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

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tm {
    /// Seconds since the Unix epoch.
    pub epoch_secs: i64,
    /// Proleptic Gregorian year.
    pub year: i64,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub minute: u32,
    /// 0..=59.
    pub second: u32,
    /// 0..=999_999_999.
    pub nanos: u32,
    /// 0 = Sunday.
    pub weekday: u32,
    /// Day of the year, 1..=366.
    pub yday: u32,
}

impl Tm {
    /// The UTC time `ns` nanoseconds after the Unix epoch.
    pub fn utc(ns: i64) -> Tm {
        let epoch_secs = ns.div_euclid(1_000_000_000);
        let nanos = ns.rem_euclid(1_000_000_000) as u32;
        let days = epoch_secs.div_euclid(86_400);
        let secs = epoch_secs.rem_euclid(86_400) as u32;
        let (year, month, day) = crate::render::civil_from_days(days);
        let jan1 = days_from_civil(year, 1, 1);
        Tm {
            epoch_secs,
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs % 3600 / 60,
            second: secs % 60,
            nanos,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
            yday: (days - jan1 + 1) as u32,
        }
    }

    fn hour12(&self) -> u32 {
        match self.hour % 12 {
            0 => 12,
            h => h,
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (inverse of
/// `render::civil_from_days`).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats the UTC time `ns` (nanoseconds since the epoch) with `pattern`.
pub fn format(pattern: &str, ns: i64) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    format_into(&mut out, pattern, &Tm::utc(ns));
    out
}

/// Appends `tm` formatted with `pattern` to `out`.
pub fn format_into(out: &mut String, pattern: &str, tm: &Tm) {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        // Writing to a String cannot fail.
        let _ = match spec {
            'a' => write!(out, "{}", &DAYS[tm.weekday as usize][..3]),
            'A' => write!(out, "{}", DAYS[tm.weekday as usize]),
            'b' | 'h' => write!(out, "{}", &MONTHS[tm.month as usize - 1][..3]),
            'B' => write!(out, "{}", MONTHS[tm.month as usize - 1]),
            'c' => {
                format_into(out, "%a %b %e %H:%M:%S %Y", tm);
                Ok(())
            }
            'C' => write!(out, "{:02}", tm.year.div_euclid(100)),
            'd' => write!(out, "{:02}", tm.day),
            'D' | 'x' => write!(
                out,
                "{:02}/{:02}/{:02}",
                tm.month,
                tm.day,
                tm.year.rem_euclid(100)
            ),
            'e' => write!(out, "{:2}", tm.day),
            'f' => write!(out, "{:06}", tm.nanos / 1000),
            'F' => write!(out, "{:04}-{:02}-{:02}", tm.year, tm.month, tm.day),
            'H' => write!(out, "{:02}", tm.hour),
            'I' => write!(out, "{:02}", tm.hour12()),
            'j' => write!(out, "{:03}", tm.yday),
            'k' => write!(out, "{:2}", tm.hour),
            'l' => write!(out, "{:2}", tm.hour12()),
            'm' => write!(out, "{:02}", tm.month),
            'M' => write!(out, "{:02}", tm.minute),
            'n' => writeln!(out),
            'p' => write!(out, "{}", if tm.hour < 12 { "AM" } else { "PM" }),
            'P' => write!(out, "{}", if tm.hour < 12 { "am" } else { "pm" }),
            'r' => {
                format_into(out, "%I:%M:%S %p", tm);
                Ok(())
            }
            'R' => write!(out, "{:02}:{:02}", tm.hour, tm.minute),
            's' => write!(out, "{}", tm.epoch_secs),
            'S' => write!(out, "{:02}", tm.second),
            't' => write!(out, "\t"),
            'T' | 'X' => write!(out, "{:02}:{:02}:{:02}", tm.hour, tm.minute, tm.second),
            'u' => write!(out, "{}", if tm.weekday == 0 { 7 } else { tm.weekday }),
            'w' => write!(out, "{}", tm.weekday),
            'y' => write!(out, "{:02}", tm.year.rem_euclid(100)),
            'Y' => write!(out, "{:04}", tm.year),
            'z' => write!(out, "+0000"),
            'Z' => write!(out, "UTC"),
            '%' => write!(out, "%"),
            other => write!(out, "%{other}"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2013-07-01 17:44:37.512993 UTC, a Monday.
    const T: i64 = 1_372_700_677_512_993_000;

    #[test]
    fn heka_default_ts_format() {
        assert_eq!(
            format("[%Y/%b/%d:%H:%M:%S %z]", T),
            "[2013/Jul/01:17:44:37 +0000]"
        );
    }

    #[test]
    fn every_conversion() {
        let cases = [
            ("%a %A %u %w", "Mon Monday 1 1"),
            ("%b %h %B %m", "Jul Jul July 07"),
            ("%C %y %Y %j", "20 13 2013 182"),
            ("%d|%e|%D|%x|%F", "01| 1|07/01/13|07/01/13|2013-07-01"),
            ("%H %I %k %l %p %P", "17 05 17  5 PM pm"),
            ("%M %S %f %s", "44 37 512993 1372700677"),
            ("%T %X %R %r", "17:44:37 17:44:37 17:44 05:44:37 PM"),
            ("%c", "Mon Jul  1 17:44:37 2013"),
            ("%z %Z %% %n%t", "+0000 UTC % \n\t"),
            ("%Q %", "%Q %"),
            ("Ünïcode %Y", "Ünïcode 2013"),
        ];
        for (pattern, want) in cases {
            assert_eq!(format(pattern, T), want, "{pattern}");
        }
    }

    #[test]
    fn calendar_edges() {
        assert_eq!(format("%F %T %a %j", 0), "1970-01-01 00:00:00 Thu 001");
        assert_eq!(format("%F %a %j", -1), "1969-12-31 Wed 365");
        // 2000-02-29 and 2000-12-31 (a leap year's last day).
        assert_eq!(
            format("%F %j %u", 951_782_400_000_000_000),
            "2000-02-29 060 2"
        );
        assert_eq!(
            format("%F %j %u", 978_220_800_000_000_000),
            "2000-12-31 366 7"
        );
        assert_eq!(format("%I %l %p", 0), "12 12 AM");
        assert_eq!(format("%I %p", 12 * 3_600_000_000_000), "12 PM");
    }

    #[test]
    fn days_from_civil_inverts_civil_from_days() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = crate::render::civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
