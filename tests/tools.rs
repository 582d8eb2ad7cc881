//! heka-inject and heka-flood end to end: the real binaries send to a real
//! listener in the test, and what arrives is cut with heka-proto's deframer
//! and checked record by record.

use std::net::TcpListener;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hekad::proto::deframer::{Event, Record};
use hekad::proto::signing::Signers;
use hekad::proto::{FieldValue, MessageView};

use crate::support::receiver::{Receiver, events};
use crate::support::{heka_flood, heka_inject, path_in, text};

const MAX: usize = 64 * 1024;

fn records(evs: Vec<Event>) -> Vec<Record> {
    evs.into_iter()
        .map(|e| match e {
            Event::Record(r) => r,
            other => panic!("not a record: {other:?}"),
        })
        .collect()
}

fn decode(r: &Record) -> MessageView {
    MessageView::decode(r.message.clone()).expect("a valid message")
}

fn string_field<'a>(m: &'a MessageView, name: &str) -> &'a [u8] {
    match m.field_value(name.as_bytes(), 0, 0) {
        Some(FieldValue::String(s)) => s,
        other => panic!("field {name}: {other:?}"),
    }
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = path_in(dir, "flood.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// A port on 127.0.0.1 with nothing listening.
fn closed_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn inject_sends_one_message_as_given() {
    let rx = Receiver::new();
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let run = rx.run(heka_inject().args([
        "-heka",
        &rx.address,
        "-type",
        "my.type",
        "-logger=unit test",
        "--severity",
        "3",
        "-payload",
        "hello wörld",
        "-pid=4242",
        "--hostname=box-1",
        "-field",
        "env=prod",
    ]));
    assert!(run.output.status.success(), "{}", text(&run.output.stderr));
    let recs = records(events(&run.bytes, MAX, None));
    assert_eq!(recs.len(), 1);
    assert!(recs[0].header.hmac.is_none(), "heka-inject does not sign");
    let m = decode(&recs[0]);
    assert_eq!(m.r#type(), b"my.type");
    assert_eq!(m.logger(), b"unit test");
    assert_eq!(m.severity(), 3);
    assert_eq!(m.payload(), "hello wörld".as_bytes());
    assert_eq!(m.pid(), 4242);
    assert_eq!(m.hostname(), b"box-1");
    assert_eq!(string_field(&m, "env"), b"prod");
    assert_eq!(m.uuid().len(), 16);
    assert_eq!(m.uuid()[6] >> 4, 4, "a version 4 uuid");
    let sent = Duration::from_nanos(m.timestamp() as u64);
    assert!(sent >= before && sent <= before + Duration::from_secs(60));
}

#[test]
fn inject_defaults_are_hekas() {
    let rx = Receiver::new();
    let run = rx.run(heka_inject().args(["-heka", &rx.address]));
    assert!(run.output.status.success(), "{}", text(&run.output.stderr));
    let recs = records(events(&run.bytes, MAX, None));
    assert_eq!(recs.len(), 1);
    let m = decode(&recs[0]);
    assert_eq!(m.r#type(), b"inject.message");
    assert_eq!(m.logger(), b"Inject Client");
    assert_eq!(m.severity(), 7);
    assert_eq!(m.payload(), b"");
    assert_eq!(m.pid(), run.pid as i32);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    assert_eq!(m.hostname(), host.as_bytes());
}

#[test]
fn inject_to_a_closed_port_fails_naming_the_address() {
    let address = closed_address();
    let out = heka_inject().args(["-heka", &address]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("cannot connect to {address}")),
        "{err}"
    );
}

#[test]
fn flood_delivers_exactly_the_number_asked() {
    let rx = Receiver::new();
    let run = rx.run(heka_flood().args(["-address", &rx.address, "-num", "1000"]));
    assert!(run.output.status.success(), "{}", text(&run.output.stderr));
    let recs = records(events(&run.bytes, MAX, None));
    assert_eq!(recs.len(), 1000);
    for r in &recs {
        let m = decode(r);
        assert_eq!(m.r#type(), b"hekabench");
        assert_eq!(m.logger(), b"heka-flood");
        assert_eq!(m.payload().len(), 64);
    }
    let out = text(&run.output.stdout);
    let mut lines = out.lines();
    assert!(
        lines.next().unwrap().starts_with("Sent 1000 messages. "),
        "{out}"
    );
    assert!(lines.next().unwrap().ends_with(" MB/sec"), "{out}");
    assert!(
        out.contains(" msg/sec ") && out.contains(" Mbit/sec"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{} bytes in", run.bytes.len())),
        "{out}"
    );
}

#[test]
fn flood_counts_stay_exact_across_cycles_with_variable_ascii_payloads() {
    let rx = Receiver::new();
    let run = rx.run(heka_flood().args([
        "--address",
        &rx.address,
        "--num",
        "4321",
        "-size=100",
        "-variable",
        "-ascii",
    ]));
    assert!(run.output.status.success(), "{}", text(&run.output.stderr));
    let recs = records(events(&run.bytes, MAX, None));
    assert_eq!(recs.len(), 4321);
    let mut sizes = std::collections::BTreeSet::new();
    for r in &recs {
        let m = decode(r);
        assert!(m.payload().len() <= 200);
        assert!(m.payload().iter().all(|b| (b' '..=b'~').contains(b)));
        sizes.insert(m.payload().len());
    }
    assert!(sizes.len() > 20, "sizes vary: {sizes:?}");
}

#[test]
fn signed_flood_verifies_with_the_right_key_only() {
    let rx = Receiver::new();
    let run = rx.run(heka_flood().args([
        "-address",
        &rx.address,
        "-num",
        "300",
        "-sign",
        "ops:1:sha1:s3cr:et",
    ]));
    assert!(run.output.status.success(), "{}", text(&run.output.stderr));
    let mut right = Signers::new();
    right.insert("ops", 1, b"s3cr:et".to_vec());
    let recs = records(events(&run.bytes, MAX, Some(right)));
    assert_eq!(recs.len(), 300);
    for r in &recs {
        assert_eq!(r.signer.as_deref(), Some(&b"ops"[..]));
        assert_eq!(r.header.hmac.as_ref().map(|h| h.len()), Some(20), "SHA1");
        decode(r);
    }
    let mut wrong = Signers::new();
    wrong.insert("ops", 1, b"secret".to_vec());
    let evs = events(&run.bytes, MAX, Some(wrong));
    assert_eq!(evs.len(), 300);
    assert!(evs.iter().all(|e| matches!(e, Event::Rejected { .. })));
}

#[test]
fn a_config_file_drives_signed_md5_floods() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::new();
    let config = write_config(
        &dir,
        &format!(
            "[signed]\nip_address = \"{}\"\nnum_messages = 200\nsigned_percentage = 100\n\
             static_message_size = 10\n\
             [signed.signer]\nname = \"cfg\"\nhmac_hash = \"md5\"\nhmac_key = \"k\"\nversion = 2\n",
            rx.address
        ),
    );
    let run = rx.run(heka_flood().args(["-config", &config, "-test", "signed"]));
    assert!(run.output.status.success(), "{}", text(&run.output.stderr));
    let mut keys = Signers::new();
    keys.insert("cfg", 2, b"k".to_vec());
    let recs = records(events(&run.bytes, MAX, Some(keys)));
    assert_eq!(recs.len(), 200);
    for r in &recs {
        assert_eq!(r.header.hmac.as_ref().map(|h| h.len()), Some(16), "MD5");
        let m = decode(r);
        assert_eq!(m.payload().len(), 10);
        assert_eq!(string_field(&m, "test"), b"signed");
    }
}

#[test]
fn corrupt_floods_deliver_nothing_readable() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::new();
    let config = write_config(
        &dir,
        &format!(
            "[bad]\nip_address = \"{}\"\nnum_messages = 500\ncorrupt_percentage = 100\n\
             ascii_only = true\n",
            rx.address
        ),
    );
    let run = rx.run(heka_flood().args(["-config", &config, "-test=bad"]));
    assert!(run.output.status.success(), "{}", text(&run.output.stderr));
    let (mut corrupt, mut undecodable) = (0, 0);
    for e in events(&run.bytes, MAX, None) {
        match e {
            Event::Corrupt { .. } => corrupt += 1,
            Event::Record(r) => {
                assert!(MessageView::decode(r.message).is_err(), "a record decoded");
                undecodable += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    // Half the corruptions break the framing, half the message.
    assert!(corrupt > 0 && undecodable > 0, "{corrupt} {undecodable}");
}

#[test]
fn oversized_floods_exceed_the_receivers_limit() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::new();
    let config = write_config(
        &dir,
        &format!(
            "[big]\nip_address = \"{}\"\nnum_messages = 20\noversized_percentage = 100\n\
             max_message_size = 2048\nascii_only = true\n",
            rx.address
        ),
    );
    let run = rx.run(heka_flood().args(["-config", &config, "-test", "big"]));
    assert!(run.output.status.success(), "{}", text(&run.output.stderr));
    let evs = events(&run.bytes, 2048, None);
    assert!(evs.iter().all(|e| matches!(e, Event::Corrupt { .. })));
    let recs = records(events(&run.bytes, MAX, None));
    assert_eq!(recs.len(), 20);
    assert!(recs.iter().all(|r| r.message.len() > 2048));
}

#[test]
fn a_duration_bounds_an_unlimited_flood() {
    let rx = Receiver::new();
    let start = Instant::now();
    let run = rx.run(heka_flood().args([
        "-address",
        &rx.address,
        "-duration",
        "300ms",
        "-interval",
        "2ms",
    ]));
    assert!(run.output.status.success(), "{}", text(&run.output.stderr));
    assert!(start.elapsed() < Duration::from_secs(10));
    let recs = records(events(&run.bytes, MAX, None));
    assert!(recs.len() > 10 && recs.len() < 300, "{}", recs.len());
    let out = text(&run.output.stdout);
    assert!(
        out.starts_with(&format!("Sent {} messages. ", recs.len())),
        "{out}"
    );
}

#[test]
fn flood_config_mistakes_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        "[t]\nnum_messages = 1\nbogus_key = 2\n[u]\nsender = \"udp\"\n",
    );
    let out = heka_flood()
        .args(["-config", &config, "-test", "t"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&config) && err.contains("line 3") && err.contains("bogus_key"),
        "{err}"
    );
    std::fs::write(&config, "[u]\nsender = \"udp\"\n").unwrap();
    let out = heka_flood()
        .args(["-config", &config, "-test", "u"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("sender \"udp\" is not supported"), "{err}");
}

#[test]
fn flood_to_a_closed_port_fails_naming_the_address() {
    let address = closed_address();
    let out = heka_flood()
        .args(["-address", &address, "-num", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("cannot connect to {address}")),
        "{err}"
    );
}
