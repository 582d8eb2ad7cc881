//! heka-cat end to end: a real process reading files written by the
//! independent test producer.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::producer::{self, FieldSpec, MessageSpec, Style, Values};
use crate::support::{heka_cat, path_in, text};

const N: usize = 60;

fn sample_file(dir: &tempfile::TempDir) -> String {
    let path = path_in(dir, "sample.heka");
    std::fs::write(&path, producer::sample_stream(N)).unwrap();
    path.to_string_lossy().into_owned()
}

fn status(m: &MessageSpec) -> i64 {
    match &m.fields[0].values {
        Values::Int(v) => v[0],
        other => panic!("{other:?}"),
    }
}

#[test]
fn count_reports_the_messages_a_matcher_selects() {
    let dir = tempfile::tempdir().unwrap();
    let file = sample_file(&dir);
    let expected = producer::sample(N)
        .iter()
        .filter(|m| m.msg_type.as_deref() == Some(b"nginx.access") && status(m) >= 400)
        .count();
    assert!(expected > 0);
    let out = heka_cat(&[
        "--format",
        "count",
        "--match",
        "Type == 'nginx.access' && Fields[status] >= 400",
        &file,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), expected.to_string());
    assert_eq!(
        text(&out.stderr).trim(),
        format!("Processed: {N}, matched: {expected} messages")
    );
}

#[test]
fn heka_go_style_flags_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = sample_file(&dir);
    let out = heka_cat(&["-match=TRUE", "-format=count", &file]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), N.to_string());
    let out = heka_cat(&["-format", "count", "-match", "Severity == 3", &file]);
    let errors = producer::sample(N)
        .iter()
        .filter(|m| m.severity == Some(3))
        .count();
    assert_eq!(text(&out.stdout).trim(), errors.to_string());
}

#[test]
fn json_shows_every_header_and_field_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = sample_file(&dir);
    let out = heka_cat(&["--format", "json", &file]);
    assert!(out.status.success());
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let sample = producer::sample(N);
    assert_eq!(lines.len(), N);
    for (got, want) in lines.iter().zip(&sample) {
        assert_eq!(got["timestamp"], want.timestamp);
        assert_eq!(
            got["type"],
            String::from_utf8_lossy(want.msg_type.as_ref().unwrap()).as_ref()
        );
        assert_eq!(
            got["payload"],
            String::from_utf8_lossy(want.payload.as_ref().unwrap()).as_ref()
        );
        assert_eq!(got["severity"], want.severity.unwrap());
        assert_eq!(got["pid"], want.pid.unwrap());
        assert!(
            got.get("env_version").is_none(),
            "unset headers are left out"
        );
        assert_eq!(got["fields"][0]["name"], "status");
        assert_eq!(got["fields"][0]["value_type"], 2);
        assert_eq!(got["fields"][0]["value_integer"][0], status(want));
        assert_eq!(got["fields"][1]["representation"], "uri");
        assert_eq!(
            got["fields"][4]["value_bool"][0],
            first_bool(&want.fields[4])
        );
    }
    // Bytes are base64, as Go's JSON encoder wrote them: 00 00 00 05.
    assert_eq!(lines[5]["fields"][3]["value_bytes"][0], "AAAABQ==");
    // The negative pid was written as Go writes it (a 5-byte varint).
    assert_eq!(lines[7]["pid"], -1);
}

fn first_bool(f: &FieldSpec) -> bool {
    match &f.values {
        Values::Bool(v) => v[0],
        other => panic!("{other:?}"),
    }
}

#[test]
fn txt_prints_headers_and_fields_readably() {
    let dir = tempfile::tempdir().unwrap();
    let file = sample_file(&dir);
    let out = heka_cat(&["--maxnum", "1", &file]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let uuid = "00000000-0000-0000-4a5b-6c7d8e9f0a1b";
    for line in [
        "Timestamp: 2014-05-13 16:53:20 +0000 UTC",
        "Type: nginx.access",
        "Hostname: web-1.example.com",
        "Pid: 4242",
        &format!("UUID: {uuid}"),
        "Logger: sample",
        "Payload: GET /item/0 HTTP/1.1 200",
        "Severity: 6",
        "    name:\"status\" value_type:INTEGER value_integer:200",
        "    name:\"path\" value_type:STRING representation:\"uri\" value_string:\"/item/0\"",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in\n{stdout}"
        );
    }
    assert_eq!(
        text(&out.stderr).trim(),
        "Processed: 1, matched: 1 messages"
    );
}

#[test]
fn heka_format_re_emits_the_records_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = sample_file(&dir);
    let selected = path_in(&dir, "selected.heka");
    let out = heka_cat(&[
        "-format=heka",
        "-match=Fields[status] == 404",
        &format!("-output={}", selected.display()),
        &file,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected: Vec<u8> = producer::sample(N)
        .iter()
        .enumerate()
        .filter(|(_, m)| status(m) == 404)
        .flat_map(|(i, m)| producer::frame(&producer::encode(m, producer::sample_style(i))))
        .collect();
    assert_eq!(std::fs::read(&selected).unwrap(), expected);
}

#[test]
fn corruption_is_reported_at_its_offset_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let sample = producer::sample(4);
    let records: Vec<Vec<u8>> = sample
        .iter()
        .map(|m| producer::frame(&producer::encode(m, Style::Go)))
        .collect();
    let mut stream = records[0].clone();
    let garbage_at = stream.len();
    stream.extend_from_slice(b"line noise");
    stream.extend(&records[1]);
    // A well-framed record whose message is not protobuf.
    let undecodable_at = stream.len();
    stream.extend(producer::frame(b"\xff\xff not protobuf"));
    stream.extend(&records[2]);
    // The file ends in the middle of a record.
    let cut_at = stream.len();
    let half = records[3].len() / 2;
    stream.extend_from_slice(&records[3][..half]);
    let file = path_in(&dir, "corrupt.heka");
    std::fs::write(&file, &stream).unwrap();

    let out = heka_cat(&["-format=count", file.to_str().unwrap()]);
    assert!(out.status.success());
    let stderr = text(&out.stderr);
    let expected = [
        format!(
            "Corruption detected at offset: {garbage_at} bytes: 10 (data before a record separator)"
        ),
        format!("Error unmarshalling message at offset: {undecodable_at} error: "),
        format!(
            "Corruption detected at offset: {cut_at} bytes: {half} (the stream ended inside a record)"
        ),
        "Processed: 4, matched: 3 messages".to_string(),
    ];
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for (line, want) in lines.iter().zip(&expected) {
        assert!(
            line.starts_with(want.as_str()),
            "{line:?} should start with {want:?}"
        );
    }
    assert_eq!(text(&out.stdout).trim(), "3");
}

#[test]
fn offset_starts_mid_file_and_resynchronises() {
    let dir = tempfile::tempdir().unwrap();
    let file = sample_file(&dir);
    let first = producer::frame(&producer::encode(&producer::sample(1)[0], Style::Go)).len();
    let at_boundary = heka_cat(&["-format=count", &format!("-offset={first}"), &file]);
    assert_eq!(text(&at_boundary.stdout).trim(), (N - 1).to_string());
    assert!(!text(&at_boundary.stderr).contains("Corruption"));
    let mid_record = heka_cat(&["-format=count", "-offset=3", &file]);
    assert_eq!(text(&mid_record.stdout).trim(), (N - 1).to_string());
    assert!(text(&mid_record.stderr).contains("Corruption detected at offset: 3 "));
}

#[test]
fn a_bad_matcher_exits_with_status_2_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let file = sample_file(&dir);
    let out = heka_cat(&["--match", "Type = 'x'", &file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("expected a comparison operator at offset 5"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn usage_and_file_errors_have_their_own_statuses() {
    assert_eq!(heka_cat(&[]).status.code(), Some(1));
    assert_eq!(heka_cat(&["-bogus", "f"]).status.code(), Some(1));
    assert_eq!(heka_cat(&["-format=xml", "f"]).status.code(), Some(1));
    let missing = heka_cat(&["/nonexistent/file.heka"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(text(&missing.stderr).contains("/nonexistent/file.heka"));
    let help = heka_cat(&["-help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stderr).contains("-max-message-size"));
}

#[test]
fn non_utf8_text_is_shown_lossily_and_passed_through_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let msg = MessageSpec {
        uuid: [9; 16],
        timestamp: 5,
        payload: Some(b"caf\xe9".to_vec()),
        ..MessageSpec::default()
    };
    let record = producer::frame(&producer::encode(&msg, Style::Go));
    let file = path_in(&dir, "latin1.heka");
    std::fs::write(&file, &record).unwrap();
    let json = heka_cat(&["-format=json", file.to_str().unwrap()]);
    let v: Value = serde_json::from_str(text(&json.stdout).trim()).unwrap();
    assert_eq!(v["payload"], "caf\u{fffd}");
    let raw = heka_cat(&[
        "-format=heka",
        "-match=Payload =~ /^caf/",
        file.to_str().unwrap(),
    ]);
    assert_eq!(raw.stdout, record);
}

#[test]
fn tail_follows_a_growing_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = path_in(&dir, "growing.heka");
    let sample = producer::sample(3);
    let record = |i: usize| producer::frame(&producer::encode(&sample[i], Style::Go));
    std::fs::write(&file, record(0)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_heka-cat"))
        .args(["-tail", "-format=json", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let timestamp_of =
        |line: &str| serde_json::from_str::<Value>(line).unwrap()["timestamp"].clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    let next = || rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    assert_eq!(
        timestamp_of(&next().expect("first record")),
        sample[0].timestamp
    );
    // Append the next record in two writes, as a writer flushing mid-record would.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    let second = record(1);
    let (a, b) = second.split_at(7);
    f.write_all(a).unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    f.write_all(b).unwrap();
    f.write_all(&record(2)).unwrap();
    f.flush().unwrap();
    assert_eq!(
        timestamp_of(&next().expect("second record")),
        sample[1].timestamp
    );
    assert_eq!(
        timestamp_of(&next().expect("third record")),
        sample[2].timestamp
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn oversized_records_are_reported_with_their_size_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let sample = producer::sample(3);
    let mut big = sample[1].clone();
    big.payload = Some(vec![b'x'; 5000]);
    let mut stream = producer::frame(&producer::encode(&sample[0], Style::Go));
    let big_at = stream.len();
    let big_message = producer::encode(&big, Style::Go);
    let big_record = producer::frame(&big_message);
    stream.extend(&big_record);
    stream.extend(producer::frame(&producer::encode(&sample[2], Style::Go)));
    let file = path_in(&dir, "big.heka");
    std::fs::write(&file, &stream).unwrap();

    let out = heka_cat(&[
        "-format=count",
        "-max-message-size=4096",
        file.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    let expected = format!(
        "Corruption detected at offset: {big_at} bytes: {} (message of {} bytes exceeds the maximum message size of 4096 bytes)",
        big_record.len(),
        big_message.len()
    );
    assert!(stderr.lines().any(|l| l == expected), "{stderr}");
    assert_eq!(text(&out.stdout).trim(), "2");
    // With the default limit (4 MiB) the same file reads whole.
    let out = heka_cat(&["-format=count", file.to_str().unwrap()]);
    assert_eq!(text(&out.stdout).trim(), "3");
}
