//! es_payload.lua and message_json.lua through SandboxEncoder.

use hekad::actors::plugin::Encoder;
use hekad::plugins::sandbox::SandboxEncoder;
use hekad::proto::Field;
use serde_json::Value;

use super::*;

fn encoder(script: &str, config: &[(&str, toml::Value)]) -> Box<dyn Encoder> {
    let dir = tempfile::tempdir().unwrap();
    SandboxEncoder::build(
        &spec("SandboxEncoder", script, config),
        &globals(dir.path()),
    )
    .unwrap_or_else(|e| panic!("{script}: {}", e.message))
}

fn encode(e: &mut Box<dyn Encoder>, m: &Message) -> String {
    let mut out = Vec::new();
    e.encode(&pack(m), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// 2023-10-10T20:55:36.25Z, from a web server, payload a JSON document.
fn web_message(payload: &str) -> Message {
    let mut m = Message::new([0xab; 16], secs(1_696_971_336) + 250_000_000);
    m.r#type = Some(Bytes::from_static(b"nginx.access"));
    m.logger = Some(Bytes::from_static(b"web"));
    m.hostname = Some(Bytes::from_static(b"web-01"));
    m.severity = Some(6);
    m.payload = Some(Bytes::from(payload.to_owned()));
    m.fields = vec![
        Field::string("request_id", "req-17"),
        Field::double("status", 200.0).with_representation("count"),
        Field::integers("sizes", [3, 4]),
        Field::bytes("blob", b"hi!!"),
        Field::boolean("cached", true),
    ];
    m
}

#[test]
fn es_payload_prefixes_the_bulk_action_line() {
    let mut e = encoder(
        "encoders/es_payload.lua",
        &[
            ("index", "%{Logger}-%{%Y.%m.%d}".into()),
            ("type_name", "%{Type}".into()),
            ("id", "%{request_id}".into()),
            ("es_index_from_timestamp", true.into()),
        ],
    );
    let out = encode(&mut e, &web_message(r#"{"a":1}"#));
    assert_eq!(
        out,
        "{\"index\":{\"_index\":\"web-2023.10.10\",\"_type\":\"nginx.access\",\"_id\":\"req-17\"}}\n{\"a\":1}\n"
    );
    // A payload that already ends in a newline gets no second one.
    let out = encode(&mut e, &web_message("{\"a\":2}\n"));
    assert!(out.ends_with("}}\n{\"a\":2}\n"), "{out}");
    // Nothing to index: skipped, no error.
    assert_eq!(encode(&mut e, &web_message("")), "");

    // Defaults: heka-<today>, type "message", no _id.
    let mut e = encoder("encoders/es_payload.lua", &[]);
    let today = hekad::strftime::format("%Y.%m.%d", hekad::host::now_ns());
    let out = encode(&mut e, &web_message(r#"{"a":1}"#));
    let action: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(action["index"]["_index"], format!("heka-{today}"));
    assert_eq!(action["index"]["_type"], "message");
    assert!(action["index"].get("_id").is_none());
}

#[test]
fn message_json_writes_headers_and_fields() {
    let mut e = encoder("encoders/message_json.lua", &[]);
    let m = web_message("hello");
    let out = encode(&mut e, &m);
    assert!(out.ends_with('\n') && out.lines().count() == 1, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["Uuid"], m.uuid_string());
    assert_eq!(doc["Timestamp"], "2023-10-10T20:55:36.250000Z");
    assert_eq!(doc["Type"], "nginx.access");
    assert_eq!(doc["Logger"], "web");
    assert_eq!(doc["Hostname"], "web-01");
    assert_eq!(doc["Severity"], 6);
    assert_eq!(doc["Payload"], "hello");
    let fields = &doc["Fields"];
    assert_eq!(fields["request_id"], "req-17");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["sizes"], serde_json::json!([3, 4]));
    assert_eq!(fields["blob"], "aGkhIQ==", "base64 of the bytes");
    assert_eq!(fields["cached"], true);
}
