use super::*;
use bytes::Bytes;
use heka_proto::{Field, Message, MessageView};
use serde_json::{Value, json};

// 2013-07-01 17:44:37.5 UTC.
const T: i64 = 1_372_700_677_500_000_000;

fn message() -> Message {
    let mut m = Message::new(
        *b"\x00\x01\x02\x03\x04\x05\x46\x07\x88\x09\x0a\x0b\x0c\x0d\x0e\x0f",
        T,
    );
    m.r#type = Some("nginx.access".into());
    m.logger = Some("web".into());
    m.hostname = Some("box.example".into());
    m.env_version = Some("0.8".into());
    m.pid = Some(1234);
    m.severity = Some(6);
    m.payload = Some(Bytes::from_static(b"GET / \"quoted\" <b>&\ttab\nline"));
    m.fields.push(Field::string("status", "ok"));
    m.fields
        .push(Field::integer("bytes", 512).with_representation("B"));
    m.fields.push(Field::double("latency", 0.25));
    m.fields.push(Field::boolean("cached", true));
    m.fields.push(Field::integers("codes", [200, 304]));
    m.fields.push(Field::bytes("blob", [0u8, 1, 2, 255]));
    m.fields.push(Field::string("json", r#"{"a":[1,2]}"#));
    m.fields.push(Field::string("notjson", "{oops"));
    m
}

fn encode_with(build: BuildFn, options: &str, msg: &Message) -> (Value, Value, String) {
    let mut spec = PluginSpec::new("enc", "ESJsonEncoder").unwrap();
    spec.options = options.parse().unwrap();
    let mut encoder = build(&spec, &Globals::default()).unwrap();
    let pack = Pack::detached(MessageView::from_message(msg).unwrap());
    let mut out = Vec::new();
    encoder.encode(&pack, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(text.ends_with('\n'));
    (
        serde_json::from_str(lines[0]).unwrap(),
        serde_json::from_str(lines[1]).unwrap(),
        text,
    )
}

type BuildFn = fn(&PluginSpec, &Globals) -> Result<Box<dyn Encoder>, BuildError>;

#[test]
fn es_json_writes_heka_headers_and_typed_fields() {
    let msg = message();
    let (action, doc, text) =
        encode_with(ESJsonEncoder::build, "es_index_from_timestamp = true", &msg);
    assert_eq!(
        action,
        json!({"index": {"_index": "heka-2013.07.01", "_type": "message"}})
    );
    assert_eq!(doc["Uuid"], "00010203-0405-4607-8809-0a0b0c0d0e0f");
    assert_eq!(doc["Timestamp"], "2013-07-01T17:44:37.500Z");
    assert_eq!(doc["Type"], "nginx.access");
    assert_eq!(doc["Logger"], "web");
    assert_eq!(doc["Severity"], 6);
    assert_eq!(doc["Payload"], "GET / \"quoted\" <b>&\ttab\nline");
    assert_eq!(doc["EnvVersion"], "0.8");
    assert_eq!(doc["Pid"], 1234);
    assert_eq!(doc["Hostname"], "box.example");
    assert_eq!(doc["status"], "ok");
    assert_eq!(doc["bytes"], 512);
    assert_eq!(doc["latency"], 0.25);
    assert_eq!(doc["cached"], true);
    assert_eq!(doc["codes"], json!([200, 304]));
    assert_eq!(doc["blob"], "AAEC/w==");
    // Not raw unless asked: a string.
    assert_eq!(doc["json"], r#"{"a":[1,2]}"#);
    // Go's escaping: <, >, & and tab as \u00XX.
    assert!(
        text.contains(r#"\"quoted\" \u003cb\u003e\u0026\u0009tab\nline"#),
        "{text}"
    );
    // Header order is the `fields` order.
    let doc_line = text.lines().nth(1).unwrap();
    assert!(doc_line.starts_with(r#"{"Uuid":"00010203-0405-4607-8809-0a0b0c0d0e0f","Timestamp":"#));
    assert!(
        doc_line.ends_with(r#","json":"{\"a\":[1,2]}","notjson":"{oops"}"#),
        "{doc_line}"
    );
}

#[test]
fn es_json_options_select_rename_and_pass_raw_json() {
    let msg = message();
    let options = r#"
        fields = ["Timestamp", "payload", "DynamicFields"]
        dynamic_fields = ["status", "json", "notjson"]
        raw_bytes_fields = ["json", "notjson"]
        timestamp = "2006-01-02 15:04:05"
        type_name = "%{Type}"
        index = "%{Logger}-%{status}"
        id = "%{Hostname}-%{bytes}"
        [field_mappings]
        Timestamp = "@timestamp"
        Payload = "message"
    "#;
    let (action, doc, _) = encode_with(ESJsonEncoder::build, options, &msg);
    assert_eq!(
        action,
        json!({"index": {"_index": "web-ok", "_type": "nginx.access", "_id": "box.example-512"}})
    );
    assert_eq!(
        doc,
        json!({
            "@timestamp": "2013-07-01 17:44:37",
            "message": "GET / \"quoted\" <b>&\ttab\nline",
            "status": "ok",
            "json": {"a": [1, 2]},
            "notjson": "{oops",
        })
    );
}

#[test]
fn es_json_refuses_unknown_fields() {
    let mut spec = PluginSpec::new("enc", "ESJsonEncoder").unwrap();
    spec.options = "fields = ['Uuid', 'Bogus']".parse().unwrap();
    let err = ESJsonEncoder::build(&spec, &Globals::default())
        .err()
        .unwrap();
    assert!(err.message.contains("Bogus"), "{}", err.message);
    spec.options = "[field_mappings]\nbogus = 'x'".parse().unwrap();
    assert!(ESJsonEncoder::build(&spec, &Globals::default()).is_err());
}

#[test]
fn logstash_v0_uses_at_names_and_nests_fields() {
    let msg = message();
    let (action, doc, _) = encode_with(
        ESLogstashV0Encoder::build,
        "es_index_from_timestamp = true",
        &msg,
    );
    assert_eq!(
        action,
        json!({"index": {"_index": "logstash-2013.07.01", "_type": "message"}})
    );
    assert_eq!(doc["@uuid"], "00010203-0405-4607-8809-0a0b0c0d0e0f");
    assert_eq!(doc["@timestamp"], "2013-07-01T17:44:37.500Z");
    assert_eq!(doc["@type"], "message");
    assert_eq!(doc["@logger"], "web");
    assert_eq!(doc["@severity"], 6);
    assert_eq!(doc["@message"], "GET / \"quoted\" <b>&\ttab\nline");
    assert_eq!(doc["@envversion"], "0.8");
    assert_eq!(doc["@pid"], 1234);
    assert_eq!(doc["@source_host"], "box.example");
    assert_eq!(doc["@fields"]["status"], "ok");
    assert_eq!(doc["@fields"]["codes"], json!([200, 304]));
    assert!(doc.get("status").is_none());

    let (action, doc, _) = encode_with(
        ESLogstashV0Encoder::build,
        "use_message_type = true\nfields = ['Type', 'DynamicFields']\ndynamic_fields = ['cached']",
        &msg,
    );
    assert_eq!(action["index"]["_type"], "message");
    assert_eq!(
        doc,
        json!({"@type": "nginx.access", "@fields": {"cached": true}})
    );
}

#[test]
fn a_bare_message_still_encodes_valid_json() {
    let msg = Message::new([0; 16], 0);
    for build in [ESJsonEncoder::build as BuildFn, ESLogstashV0Encoder::build] {
        let (_, doc, _) = encode_with(
            build,
            "fields = ['DynamicFields', 'Pid', 'DynamicFields']",
            &msg,
        );
        assert!(doc.is_object());
    }
}
