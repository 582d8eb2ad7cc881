use bytes::Bytes;
use heka_proto::{FieldValue, Message};

use super::*;

const NGINX: &str = r#"^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<Timestamp>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+) (?P<proto>[^"]+)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$"#;

fn decoder(type_name: &str, options: &str) -> Result<Box<dyn Decoder>, BuildError> {
    let spec = PluginSpec {
        options: toml::from_str(options).unwrap(),
        ..PluginSpec::new("dec", type_name).unwrap()
    };
    match type_name {
        "PayloadRegexDecoder" => PayloadRegexDecoder::build(&spec, &Globals::default()),
        _ => ScribbleDecoder::build(&spec, &Globals::default()),
    }
}

fn line(payload: &str) -> Incoming {
    let mut m = Message::new([1; 16], 77);
    m.r#type = Some(Bytes::from_static(b"logfile"));
    m.logger = Some(Bytes::from_static(b"access.log"));
    m.payload = Some(Bytes::copy_from_slice(payload.as_bytes()));
    Incoming::Message(Box::new(MessageView::from_message(&m).unwrap()))
}

fn text(view: &MessageView, name: &str) -> String {
    match view.field_value(name.as_bytes(), 0, 0) {
        Some(FieldValue::String(s)) => String::from_utf8(s.to_vec()).unwrap(),
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn nginx_lines_become_nine_fields_and_a_timestamp() {
    let config = format!(
        "match_regex = '{NGINX}'\ntimestamp_layout = '02/Jan/2006:15:04:05 -0700'\n\
         [message_fields]\nType = 'nginx.access'\nremote_addr = '%remote_addr%'\n\
         remote_user = '%remote_user%'\nmethod = '%method%'\npath = '%path%'\nproto = '%proto%'\n\
         status = '%status%'\n'bytes|B' = '%bytes%'\nreferer = '%referer%'\nagent = '%agent%'\n"
    );
    let mut d = decoder("PayloadRegexDecoder", &config).unwrap();
    let lines = [
        r#"10.0.0.1 - alice [10/Oct/2000:13:55:36 -0700] "GET /a/b?c=1 HTTP/1.1" 200 2326 "http://x/" "curl/8.0""#,
        r#"192.168.9.77 - - [01/Jan/2024:00:00:00 +0000] "POST /login HTTP/2.0" 302 0 "-" "Mozilla/5.0 (X11; Linux)""#,
    ];
    for l in lines {
        let mut out = Vec::new();
        d.decode(line(l), &mut out).unwrap();
        let v = &out[0];
        // Expected values come from cutting the line by hand.
        let (addr, rest) = l.split_once(" - ").unwrap();
        let (user, rest) = rest.split_once(" [").unwrap();
        let (time, rest) = rest.split_once("] \"").unwrap();
        let (request, rest) = rest.split_once("\" ").unwrap();
        let mut req = request.splitn(3, ' ');
        let mut nums = rest.splitn(3, ' ');
        let (status, bytes) = (nums.next().unwrap(), nums.next().unwrap());
        let quoted: Vec<&str> = nums.next().unwrap().split('"').collect();
        assert_eq!(text(v, "remote_addr"), addr);
        assert_eq!(text(v, "remote_user"), user);
        assert_eq!(text(v, "method"), req.next().unwrap());
        assert_eq!(text(v, "path"), req.next().unwrap());
        assert_eq!(text(v, "proto"), req.next().unwrap());
        assert_eq!(text(v, "status"), status);
        assert_eq!(text(v, "bytes"), bytes);
        assert_eq!(text(v, "referer"), quoted[1]);
        assert_eq!(text(v, "agent"), quoted[3]);
        assert_eq!(v.r#type(), b"nginx.access");
        assert_eq!(v.logger(), b"access.log", "untouched headers stay");
        assert_eq!(v.payload(), l.as_bytes());
        let want = jiff::fmt::strtime::parse("%d/%b/%Y:%H:%M:%S %z", time)
            .unwrap()
            .to_timestamp()
            .unwrap();
        assert_eq!(v.timestamp(), want.as_nanosecond() as i64);
    }
}

#[test]
fn severity_captures_map_and_mismatches_fail_the_record() {
    let config = "match_regex = '^(?P<Severity>\\w+): (?P<msg>.*)$'\n\
                  [severity_map]\nerror = 3\nwarn = 4\n\
                  [message_fields]\nPayload = '%msg%'\n";
    let mut d = decoder("PayloadRegexDecoder", config).unwrap();
    let mut out = Vec::new();
    d.decode(line("warn: disk almost full"), &mut out).unwrap();
    d.decode(line("6: plain number"), &mut out).unwrap();
    assert_eq!(out[0].severity(), 4);
    assert_eq!(out[0].payload(), b"disk almost full");
    assert_eq!(out[1].severity(), 6);
    let err = d.decode(line("loud: unknown"), &mut out).unwrap_err();
    assert!(err.to_string().contains("severity_map"), "{err}");
    let err = d.decode(line("no colon here"), &mut out).unwrap_err();
    assert!(err.to_string().contains("no match"), "{err}");
    assert_eq!(out.len(), 2);
}

#[test]
fn bad_configs_name_the_key() {
    for (config, key) in [
        ("match_regex = '('", "match_regex"),
        (
            "match_regex = 'x'\ntimestamp_location = 'Nowhere/Land'",
            "Nowhere/Land",
        ),
        (
            "match_regex = 'x'\n[message_fields]\nx = [1]",
            "message_fields.x",
        ),
        ("regex = 'x'", "regex"),
    ] {
        let err = decoder("PayloadRegexDecoder", config).err().unwrap();
        assert!(err.to_string().contains(key), "{config}: {err}");
    }
}

#[test]
fn scribble_writes_fixed_values() {
    let mut d = decoder(
        "ScribbleDecoder",
        "[message_fields]\nType = 'scribbled.%Type%'\nenv = 'prod'\nshard = 7\n",
    )
    .unwrap();
    let mut out = Vec::new();
    d.decode(line("anything"), &mut out).unwrap();
    assert_eq!(out[0].r#type(), b"scribbled.logfile");
    assert_eq!(text(&out[0], "env"), "prod");
    assert_eq!(
        out[0].field_value(b"shard", 0, 0),
        Some(FieldValue::Integer(7))
    );
    assert_eq!(out[0].payload(), b"anything");
}

/// The one-pass path (a text record patched directly) writes the message
/// the two-pass path writes from the record's text message, but its uuid.
#[test]
fn a_text_record_decodes_to_the_message_its_text_message_would() {
    let fields = [heka_proto::Field::integer("ExitStatus", 3)];
    let record = TextRecord::new(
        Bytes::from_static(b"GET 404 /missing"),
        "web1",
        "access",
        Some("logfile"),
        Some(6),
        &fields,
    );
    for (type_name, options) in [
        (
            "PayloadRegexDecoder",
            "match_regex = '^(?P<method>[A-Z]+) (?P<status>\\d+) (?P<Payload>.*)'\n\
             [message_fields]\nType = 'web'\nmethod = '%method%'\n'status|B' = '%status%'\n",
        ),
        (
            "ScribbleDecoder",
            "[message_fields]\nEnvVersion = '2'\nkind = 'fixed'\n",
        ),
    ] {
        let mut dec = decoder(type_name, options).unwrap();
        let decode = |dec: &mut Box<dyn Decoder>, input| {
            let mut out = Vec::new();
            dec.decode(input, &mut out).unwrap();
            let mut msg = out.pop().unwrap().to_message();
            msg.uuid = Bytes::new();
            msg
        };
        let text_message = record.message();
        let mut one_pass = decode(&mut dec, Incoming::Text(record.clone()));
        let two_pass = decode(&mut dec, Incoming::Message(Box::new(text_message.clone())));
        assert!(
            one_pass.timestamp >= text_message.timestamp(),
            "{type_name}"
        );
        one_pass.timestamp = two_pass.timestamp;
        assert_eq!(one_pass, two_pass, "{type_name}");
        assert_eq!(one_pass.hostname.as_deref(), Some(&b"web1"[..]));
    }
}

#[test]
fn templates_reading_headers_see_the_text_records_message() {
    let mut dec = decoder(
        "ScribbleDecoder",
        "[message_fields]\nwhere = '%Hostname%/%Logger%'\n",
    )
    .unwrap();
    let record = TextRecord::new(Bytes::from_static(b"x"), "web1", "access", None, None, &[]);
    let mut out = Vec::new();
    dec.decode(Incoming::Text(record), &mut out).unwrap();
    assert_eq!(text(&out[0], "where"), "web1/access");
}

#[test]
fn repeated_timestamps_read_the_same_as_fresh_ones() {
    // The decoder keeps the last Timestamp text and its time; a mix of
    // repeats, changes and a bad one must give what a fresh parse gives.
    let config = "match_regex = '^(?P<Timestamp>\\S+) (?P<n>\\d+)$'\n\
                  timestamp_layout = '2006-01-02T15:04:05Z07:00'\n";
    let mut d = decoder("PayloadRegexDecoder", config).unwrap();
    let fresh = || decoder("PayloadRegexDecoder", config).unwrap();
    let times = [
        "2024-01-01T00:00:01Z",
        "2024-01-01T00:00:01Z",
        "2024-01-01T00:00:02Z",
        "2024-13-01T00:00:02Z",
        "2024-01-01T00:00:01Z",
        "2024-01-01T00:00:01+01:00",
    ];
    for (i, t) in times.iter().enumerate() {
        let payload = format!("{t} {i}");
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        let a = d.decode(line(&payload), &mut ours);
        let b = fresh().decode(line(&payload), &mut theirs);
        assert_eq!(a.is_ok(), b.is_ok(), "{t}");
        if a.is_ok() {
            assert_eq!(ours[0].timestamp(), theirs[0].timestamp(), "{t}");
        }
    }
    assert!(
        fresh()
            .decode(line("2024-13-01T00:00:02Z 1"), &mut Vec::new())
            .is_err()
    );
}

#[test]
fn a_layout_without_a_year_takes_this_year() {
    // Syslog's layout has no year: the decoder must read the clock for it
    // (it skips the clock for layouts that have one).
    let config = "match_regex = '^(?P<Timestamp>\\w+ +\\d+ [\\d:]+) '\n\
                  timestamp_layout = 'Jan _2 15:04:05'\n";
    let mut d = decoder("PayloadRegexDecoder", config).unwrap();
    let mut out = Vec::new();
    d.decode(line("Jan  1 00:00:00 host x"), &mut out).unwrap();
    let now = jiff::Timestamp::now();
    let year = now.to_zoned(jiff::tz::TimeZone::UTC).year();
    let got = jiff::Timestamp::from_nanosecond(i128::from(out[0].timestamp())).unwrap();
    let got_year = got.to_zoned(jiff::tz::TimeZone::UTC).year();
    // Jan 1 is never more than a day ahead, so it is this year's.
    assert_eq!(got_year, year, "the clock was read: {got}");
}
