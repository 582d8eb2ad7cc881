//! json.lua's header mapping (map_fields) through SandboxDecoder; its
//! flattening is covered by the hekad process test in `tests/sandbox.rs`.

use super::*;

const LINE: &str = r#"{"msg":"Start Request","event":"web.ensure-running","extra":{"workspace":"cN907"},"time":"2015-05-06T20:40:05.509926234Z","severity":1,"host":"web-7","id":"8e414f01-9d7f-4a48-a5e1-ae92e5954df5","pid":"4711"}"#;

fn mapped(extra: &[(&str, toml::Value)]) -> Box<dyn Decoder> {
    let mut config = vec![
        ("map_fields", true.into()),
        ("Timestamp", "time".into()),
        ("Severity", "severity".into()),
        ("Hostname", "host".into()),
        ("Uuid", "id".into()),
        ("Pid", "pid".into()),
        ("Payload", "msg".into()),
    ];
    config.extend_from_slice(extra);
    decoder("decoders/json.lua", &config)
}

#[test]
fn map_fields_moves_json_keys_into_headers() {
    let mut d = mapped(&[]);
    let m = decode(&mut d, LINE).unwrap();
    // 2015-05-06T20:40:05Z is 1430944805 s; the fraction survives to the
    // precision of a double (a few hundred ns at this magnitude).
    let frac = m.timestamp - secs(1_430_944_805);
    assert!((frac - 509_926_234).abs() < 1_000, "{frac}");
    assert_eq!(m.severity, Some(1));
    assert_eq!(header(&m.hostname), "web-7");
    assert_eq!(m.pid, Some(4711), "numeric text is a number");
    assert_eq!(header(&m.payload), "Start Request");
    assert_eq!(
        hekad::proto::ext::uuid_text(&m.uuid).map(|t| String::from_utf8_lossy(&t).into_owned()),
        Some("8e414f01-9d7f-4a48-a5e1-ae92e5954df5".to_owned())
    );
    assert_eq!(header(&m.r#type), "json");
    // Mapped keys leave the fields; the rest is flattened.
    for gone in ["time", "severity", "host", "id", "pid", "msg"] {
        assert!(m.field(gone.as_bytes(), 0).is_none(), "{gone}");
    }
    assert_eq!(text(&m, "event").unwrap(), "web.ensure-running");
    assert_eq!(text(&m, "extra.workspace").unwrap(), "cN907");
}

#[test]
fn timestamp_format_and_unreadable_times() {
    let mut d = mapped(&[("timestamp_format", "%d/%b/%Y %H:%M:%S %z".into())]);
    let m = decode(&mut d, r#"{"time":"06/May/2015 22:40:05 +0200","n":2}"#).unwrap();
    assert_eq!(m.timestamp, secs(1_430_944_805));
    assert_eq!(number(&m, "n"), Some(2.0));

    let e = decode_error(&mut d, r#"{"time":"yesterday"}"#);
    assert!(e.contains("yesterday"), "{e}");

    // Without the key the input's timestamp stays; a number is ns.
    let m = decode(&mut d, r#"{"n":3}"#).unwrap();
    assert_eq!(m.timestamp, INPUT_NS);
    let m = decode(&mut d, r#"{"time":1430944805000000000}"#).unwrap();
    assert_eq!(m.timestamp, secs(1_430_944_805));

    // Without map_fields the keys stay fields, as before.
    let mut plain = decoder("decoders/json.lua", &[("Timestamp", "time".into())]);
    let m = decode(&mut plain, LINE).unwrap();
    assert_eq!(m.timestamp, INPUT_NS);
    assert_eq!(text(&m, "time").unwrap(), "2015-05-06T20:40:05.509926234Z");
}
