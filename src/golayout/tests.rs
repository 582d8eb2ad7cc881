//! Go layouts checked against jiff's independent formatter: random instants
//! are written with a strftime format equivalent to each Go layout and must
//! parse back to the same instant.

use super::*;
use jiff::Timestamp;

const NOW: i64 = 1_764_000_000_000_000_000; // 2025-11-24

/// Go layout, equivalent strftime, whether sub-second digits survive.
const PAIRS: &[(&str, &str)] = &[
    ("02/Jan/2006:15:04:05 -0700", "%d/%b/%Y:%H:%M:%S %z"),
    ("2006-01-02T15:04:05Z07:00", "%Y-%m-%dT%H:%M:%S%:z"),
    (
        "2006-01-02 15:04:05.000 -07:00",
        "%Y-%m-%d %H:%M:%S.%3f %:z",
    ),
    (
        "Monday, 02-Jan-06 15:04:05 -0700",
        "%A, %d-%b-%y %H:%M:%S %z",
    ),
    ("Mon Jan _2 15:04:05 2006 -0700", "%a %b %e %H:%M:%S %Y %z"),
    (
        "January 2 2006 3:04:05 PM -0700",
        "%B %-d %Y %-I:%M:%S %p %z",
    ),
    ("2006.002 15:04:05 -0700", "%Y.%j %H:%M:%S %z"),
];

#[test]
fn layouts_read_what_an_independent_formatter_writes() {
    let mut rng = fastrand::Rng::with_seed(7);
    for (go, strftime) in PAIRS {
        let layout = Layout::new(go, "UTC").unwrap();
        for _ in 0..300 {
            // Two-digit years mean 1969 to 2068, as in Go.
            let secs = if go.contains("2006") {
                rng.i64(-2_000_000_000..4_000_000_000)
            } else {
                rng.i64(-31_536_000..3_124_000_000)
            };
            let millis = rng.i64(0..1000);
            let offset = jiff::tz::Offset::from_seconds(rng.i32(-14..=14) * 1800).unwrap();
            let ts = Timestamp::new(secs, (millis * 1_000_000) as i32).unwrap();
            let text = ts
                .to_zoned(TimeZone::fixed(offset))
                .strftime(strftime)
                .to_string();
            let got = layout
                .parse(text.as_bytes(), NOW)
                .unwrap_or_else(|e| panic!("{e}"));
            let keeps_millis = go.contains(".000");
            let want = if keeps_millis {
                ts.as_nanosecond() as i64
            } else {
                secs * 1_000_000_000
            };
            assert_eq!(got, want, "{go} {text}");
        }
    }
}

#[test]
fn a_time_without_offset_is_read_in_the_location() {
    let utc = Layout::new("2006-01-02 15:04:05", "UTC").unwrap();
    let ny = Layout::new("2006-01-02 15:04:05", "America/New_York").unwrap();
    let text = b"2024-07-01 12:00:00";
    let at_utc = utc.parse(text, NOW).unwrap();
    let want = jiff::civil::date(2024, 7, 1)
        .at(12, 0, 0, 0)
        .to_zoned(TimeZone::get("America/New_York").unwrap())
        .unwrap()
        .timestamp()
        .as_nanosecond() as i64;
    assert_eq!(ny.parse(text, NOW).unwrap(), want);
    assert_eq!(want - at_utc, 4 * 3600 * 1_000_000_000, "EDT is UTC-4");
    // An explicit offset wins over the location.
    let with = Layout::new("2006-01-02 15:04:05 -0700", "America/New_York").unwrap();
    assert_eq!(
        with.parse(b"2024-07-01 12:00:00 +0000", NOW).unwrap(),
        at_utc
    );
    assert!(matches!(
        Layout::new("2006", "Mars/Olympus"),
        Err(LayoutError::Zone(..))
    ));
}

#[test]
fn syslog_times_without_a_year_take_the_current_one() {
    let layout = Layout::new("Jan _2 15:04:05", "UTC").unwrap();
    let this_year = Timestamp::from_nanosecond(NOW as i128)
        .unwrap()
        .to_zoned(TimeZone::UTC)
        .year();
    let got = layout.parse(b"Mar  5 01:02:03", NOW).unwrap();
    let want = jiff::civil::date(this_year, 3, 5)
        .at(1, 2, 3, 0)
        .to_zoned(TimeZone::UTC)
        .unwrap();
    assert_eq!(got, want.timestamp().as_nanosecond() as i64);
    // December seen in early January belongs to the year before.
    let jan_2 = jiff::civil::date(2026, 1, 2)
        .at(0, 0, 0, 0)
        .to_zoned(TimeZone::UTC)
        .unwrap();
    let now = jan_2.timestamp().as_nanosecond() as i64;
    let got = layout.parse(b"Dec 31 23:59:59", now).unwrap();
    let want = jiff::civil::date(2025, 12, 31)
        .at(23, 59, 59, 0)
        .to_zoned(TimeZone::UTC)
        .unwrap();
    assert_eq!(got, want.timestamp().as_nanosecond() as i64);
}

#[test]
fn fractions_epochs_and_mistakes() {
    let layout = Layout::new("2006-01-02 15:04:05", "UTC").unwrap();
    let whole = layout.parse(b"2024-01-01 00:00:00", NOW).unwrap();
    // A fraction after the seconds is accepted without one in the layout.
    assert_eq!(
        layout.parse(b"2024-01-01 00:00:00.25", NOW).unwrap(),
        whole + 250_000_000
    );
    for epoch in ["Epoch", "EpochMilli", "EpochMicro", "EpochNano"] {
        let l = Layout::new(epoch, "UTC").unwrap();
        let scale = match epoch {
            "Epoch" => 1_000_000_000,
            "EpochMilli" => 1_000_000,
            "EpochMicro" => 1_000,
            _ => 1,
        };
        assert_eq!(l.parse(b"1700000000", NOW).unwrap(), 1_700_000_000 * scale);
        assert!(l.parse(b"17x", NOW).is_err());
    }
    let secs = Layout::new("Epoch", "UTC").unwrap();
    assert_eq!(secs.parse(b"1.5", NOW).unwrap(), 1_500_000_000);
    for bad in [
        &b"2024-13-01 00:00:00"[..],
        b"2024-02-30 00:00:00",
        b"2024-01-01 24:00:00",
        b"2024-01-01",
        b"2024-01-01 00:00:00 extra",
        b"",
    ] {
        let err = layout.parse(bad, NOW).unwrap_err();
        assert!(err.to_string().contains("2006-01-02 15:04:05"), "{err}");
    }
}

#[test]
fn literal_text_may_hold_any_characters() {
    // Non-ASCII text around the tokens (a Chinese date, an emoji) used to
    // panic the lexer, which sliced the layout at every byte.
    let layout = Layout::new("2006年01月02日 15:04 🕒", "UTC").unwrap();
    let text = "2025年11月24日 16:00 🕒";
    assert_eq!(
        layout.parse(text.as_bytes(), NOW).unwrap(),
        NOW / 1_000_000_000 / 86_400 * 86_400 * 1_000_000_000 + 16 * 3_600_000_000_000
    );
    let mut out = String::new();
    format::GoLayout::new("2006年01月02日 15:04 🕒").format_into(&mut out, NOW);
    assert_eq!(
        out,
        jiff::Timestamp::from_nanosecond(NOW.into())
            .unwrap()
            .strftime("%Y年%m月%d日 %H:%M 🕒")
            .to_string()
    );
    // A layout that is one multi-byte character.
    assert!(Layout::new("𞸧", "UTC").is_ok());
}
