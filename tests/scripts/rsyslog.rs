//! rsyslog.lua through SandboxDecoder on `tests/fixtures/rsyslog/`.

use super::*;

const FORWARD: &str =
    "<%PRI%>%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%";
const CUSTOM: &str =
    r"%timegenerated:::date-mysql% %fromhost-ip% %syslogseverity-text% %programname%: %msg%\n";

#[test]
fn traditional_file_format_is_the_default_template() {
    let lines = fixture_lines("rsyslog/traditional.log");
    let mut d = decoder("decoders/rsyslog.lua", &[("type", "syslog".into())]);

    // Oct 10 13:55:36 web-01 kernel: [ 1234.567890] eth0: link up
    let m = decode(&mut d, &lines[0]).unwrap();
    assert_eq!(header(&m.r#type), "syslog");
    assert_eq!(header(&m.hostname), "web-01");
    assert_eq!(header(&m.payload), "[ 1234.567890] eth0: link up");
    assert_eq!(text(&m, "programname").unwrap(), "kernel");
    assert_eq!(m.pid, None, "a tag without [pid]");
    assert!(m.field(b"syslogtag", 0).is_none(), "split into its parts");
    // No year in RFC 3164: the time of day and date are exact, the year is
    // the one that puts the line at most a week ahead of now.
    assert_eq!(
        hekad::strftime::format("%b %d %H:%M:%S", m.timestamp),
        "Oct 10 13:55:36"
    );
    let now = hekad::host::now_ns();
    assert!(m.timestamp <= now + secs(7 * 86400));
    assert!(m.timestamp > now - secs(366 * 86400));

    // Oct 10 13:55:40 web-01 sshd[2231]: Accepted publickey ...
    let m = decode(&mut d, &lines[1]).unwrap();
    assert_eq!(text(&m, "programname").unwrap(), "sshd");
    assert_eq!(m.pid, Some(2231));
    assert!(header(&m.payload).starts_with("Accepted publickey for deploy"));

    // "Oct  9": a space-padded day.
    let m = decode(&mut d, &lines[2]).unwrap();
    assert_eq!(
        hekad::strftime::format("%b %d %H:%M:%S", m.timestamp),
        "Oct 09 03:05:01"
    );
    assert_eq!(text(&m, "programname").unwrap(), "CRON");
    assert_eq!(m.pid, Some(9012));

    // A message that itself starts with a space keeps it.
    let m = decode(&mut d, &lines[4]).unwrap();
    assert_eq!(header(&m.payload), " message that starts with a space");
    assert_eq!(header(&m.hostname), "db-02");

    let e = decode_error(&mut d, &lines[5]);
    assert!(e.starts_with("rsyslog: %timestamp%"), "{e}");
    let e = decode_error(&mut d, &lines[6]);
    assert!(e.starts_with("rsyslog: %timestamp%"), "{e}");
}

#[test]
fn hostname_keep_and_a_fixed_tz() {
    let lines = fixture_lines("rsyslog/traditional.log");
    let mut utc = decoder("decoders/rsyslog.lua", &[]);
    let mut d = decoder(
        "decoders/rsyslog.lua",
        &[("hostname_keep", true.into()), ("tz", "-05:00".into())],
    );
    let m = decode(&mut d, &lines[3]).unwrap();
    assert_eq!(header(&m.hostname), "input-host");
    assert_eq!(text(&m, "hostname").unwrap(), "db-02");
    let at_utc = decode(&mut utc, &lines[3]).unwrap().timestamp;
    assert_eq!(m.timestamp - at_utc, secs(5 * 3600), "13:56 at -05:00");

    let dir = tempfile::tempdir().unwrap();
    let spec = spec(
        "SandboxDecoder",
        "decoders/rsyslog.lua",
        &[("tz", "America/Los_Angeles".into())],
    );
    let err = hekad::plugins::sandbox::SandboxDecoder::build(&spec, &globals(dir.path()))
        .err()
        .unwrap();
    assert!(err.message.contains("tz: time zone"), "{}", err.message);
}

#[test]
fn forward_format_reads_pri_and_rfc3339_times() {
    let lines = fixture_lines("rsyslog/forward.log");
    let mut d = decoder("decoders/rsyslog.lua", &[("template", FORWARD.into())]);

    // <86>2023-10-10T13:55:36.5+02:00 auth-01 sshd[4242]: Failed password ...
    let m = decode(&mut d, &lines[0]).unwrap();
    assert_eq!(m.timestamp, secs(1_696_938_936) + 500_000_000);
    assert_eq!(m.severity, Some(86 % 8));
    assert_eq!(number(&m, "syslogfacility"), Some((86 / 8) as f64));
    assert_eq!(header(&m.hostname), "auth-01");
    assert_eq!(m.pid, Some(4242));
    assert_eq!(text(&m, "programname").unwrap(), "sshd");
    assert!(header(&m.payload).starts_with("Failed password for root"));

    // <13>2023-10-10T11:55:37Z app-03 deploy: release 42 rolled out
    let m = decode(&mut d, &lines[1]).unwrap();
    assert_eq!(m.timestamp, secs(1_696_938_937));
    assert_eq!(m.severity, Some(5));
    assert_eq!(number(&m, "syslogfacility"), Some(1.0));
    assert_eq!(text(&m, "programname").unwrap(), "deploy");
    assert_eq!(header(&m.payload), "release 42 rolled out");

    // <191>...T11:55:38.000001Z: facility 23, severity 7, microseconds.
    let m = decode(&mut d, &lines[2]).unwrap();
    assert_eq!(m.severity, Some(7));
    assert_eq!(number(&m, "syslogfacility"), Some(23.0));
    let micros = (m.timestamp - secs(1_696_938_938)) as f64 / 1000.0;
    assert!((micros - 1.0).abs() < 0.5, "{micros}");

    let e = decode_error(&mut d, &lines[3]);
    assert!(e.contains("%pri%") && e.contains("200"), "{e}");
}

#[test]
fn custom_template_with_mysql_dates_and_severity_text() {
    let lines = fixture_lines("rsyslog/custom.log");
    let mut d = decoder(
        "decoders/rsyslog.lua",
        &[("template", CUSTOM.into()), ("tz", "+01:00".into())],
    );
    // 20231010135536 192.0.2.7 warning app: disk almost full (at +01:00)
    let m = decode(&mut d, &lines[0]).unwrap();
    assert_eq!(m.timestamp, secs(1_696_942_536), "12:55:36 UTC");
    assert_eq!(m.severity, Some(4));
    assert_eq!(text(&m, "fromhost-ip").unwrap(), "192.0.2.7");
    assert_eq!(text(&m, "programname").unwrap(), "app");
    assert_eq!(header(&m.payload), "disk almost full");
    assert_eq!(
        header(&m.hostname),
        "input-host",
        "no %HOSTNAME% in the template"
    );
    assert!(m.field(b"syslogseverity-text", 0).is_none());

    let m = decode(&mut d, &lines[1]).unwrap();
    assert_eq!(m.severity, Some(3));
    let e = decode_error(&mut d, &lines[2]);
    assert!(e.contains("loud"), "{e}");
}
