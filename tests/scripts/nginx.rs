//! nginx_access.lua through SandboxDecoder on `tests/fixtures/nginx/`.

use super::*;

const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
const TIMED: &str = r#"$remote_addr [$time_iso8601] "$request" $status $request_time $upstream_response_time $bytes_sent $request_length "$http_user_agent""#;

/// Lines of combined.log that must not decode (0-based).
const BAD: [usize; 4] = [16, 17, 18, 19];

fn combined(extra: &[(&str, toml::Value)]) -> Box<dyn Decoder> {
    let mut config = vec![
        ("log_format", COMBINED.into()),
        ("type", "nginx.access".into()),
    ];
    config.extend_from_slice(extra);
    decoder("decoders/nginx_access.lua", &config)
}

#[test]
fn combined_lines_become_typed_fields_and_a_timestamp() {
    let lines = fixture_lines("nginx/combined.log");
    let mut d = combined(&[]);

    // 203.0.113.7 - - [10/Oct/2023:13:55:36 -0700] "GET /index.html HTTP/1.1" 200 2326 "-" "Mozilla/5.0 (X11; ..."
    let m = decode(&mut d, &lines[0]).unwrap();
    assert_eq!(m.timestamp, secs(1_696_971_336), "20:55:36 UTC");
    assert_eq!(header(&m.r#type), "nginx.access");
    assert_eq!(
        header(&m.hostname),
        "input-host",
        "the input's hostname stays"
    );
    assert_eq!(header(&m.payload), "", "payload_keep is off");
    assert_eq!(text(&m, "remote_addr").unwrap(), "203.0.113.7");
    assert_eq!(representation(&m, "remote_addr").unwrap(), "ipv4");
    assert_eq!(text(&m, "remote_user").unwrap(), "-");
    assert_eq!(text(&m, "request").unwrap(), "GET /index.html HTTP/1.1");
    assert_eq!(text(&m, "request_method").unwrap(), "GET");
    assert_eq!(text(&m, "request_uri").unwrap(), "/index.html");
    assert_eq!(text(&m, "server_protocol").unwrap(), "HTTP/1.1");
    assert_eq!(number(&m, "status"), Some(200.0));
    assert_eq!(number(&m, "body_bytes_sent"), Some(2326.0));
    assert_eq!(representation(&m, "body_bytes_sent").unwrap(), "B");
    assert_eq!(text(&m, "http_referer").unwrap(), "-");
    assert!(
        text(&m, "http_user_agent")
            .unwrap()
            .ends_with("Gecko/20100101 Firefox/118.0")
    );
    assert!(
        m.field(b"time_local", 0).is_none(),
        "the time is the Timestamp"
    );

    // ... alice [10/Oct/2023:13:55:52 -0700] "POST /api/orders?src=web HTTP/1.1" 201 87
    let m = decode(&mut d, &lines[2]).unwrap();
    assert_eq!(m.timestamp, secs(1_696_971_352));
    assert_eq!(text(&m, "remote_user").unwrap(), "alice");
    assert_eq!(text(&m, "request_method").unwrap(), "POST");
    assert_eq!(text(&m, "request_uri").unwrap(), "/api/orders?src=web");
    assert_eq!(number(&m, "status"), Some(201.0));
    assert_eq!(
        text(&m, "http_referer").unwrap(),
        "https://example.com/cart"
    );

    // 2001:db8::1 ... "GET /old-page HTTP/2.0" 301 169
    let m = decode(&mut d, &lines[5]).unwrap();
    assert_eq!(representation(&m, "remote_addr").unwrap(), "ipv6");
    assert_eq!(text(&m, "server_protocol").unwrap(), "HTTP/2.0");
    assert_eq!(number(&m, "status"), Some(301.0));

    // An escaped quote inside a quoted value does not end it.
    let m = decode(&mut d, &lines[7]).unwrap();
    assert_eq!(
        text(&m, "http_user_agent").unwrap(),
        r#"Mozilla/5.0 (compatible; \"quoted\" Crawler/2.1)"#
    );
    assert_eq!(text(&m, "request_method").unwrap(), "HEAD");
    let m = decode(&mut d, &lines[8]).unwrap();
    assert_eq!(
        text(&m, "http_referer").unwrap(),
        r"https://example.com/?q=\x22a\x22"
    );
    assert_eq!(text(&m, "request_uri").unwrap(), "/search?q=%22a%22");

    // Requests that are not request lines are kept whole, not split.
    for (i, request) in [
        (9, "-"),
        (10, r"\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03"),
    ] {
        let m = decode(&mut d, &lines[i]).unwrap();
        assert_eq!(text(&m, "request").unwrap(), request);
        assert!(m.field(b"request_method", 0).is_none());
        assert_eq!(number(&m, "status"), Some(400.0));
    }

    // [10/Oct/2023:21:00:00 +0000]
    let m = decode(&mut d, &lines[15]).unwrap();
    assert_eq!(m.timestamp, secs(1_696_971_600));
}

#[test]
fn every_good_line_decodes_and_every_bad_line_fails_with_its_reason() {
    let lines = fixture_lines("nginx/combined.log");
    let mut d = combined(&[]);
    for (i, line) in lines.iter().enumerate() {
        if BAD.contains(&i) {
            continue;
        }
        let m = decode(&mut d, line).unwrap_or_else(|e| panic!("line {}: {e:?}", i + 1));
        let status = number(&m, "status").unwrap();
        assert!((100.0..600.0).contains(&status), "line {}", i + 1);
        // Every line of the fixture is from 10 Oct 2023, 20:55-21:01 UTC.
        assert!(
            (secs(1_696_971_300)..secs(1_696_971_660)).contains(&m.timestamp),
            "line {}: {}",
            i + 1,
            m.timestamp
        );
        let sent = text(&m, "request").unwrap();
        assert!(line.contains(&format!("\"{sent}\"")), "line {}", i + 1);
    }
    let errors: Vec<String> = BAD
        .iter()
        .map(|&i| decode_error(&mut d, &lines[i]))
        .collect();
    for e in &errors {
        assert!(e.starts_with("nginx_access: "), "{e}");
    }
    assert!(errors[0].contains("expected '-'"), "{}", errors[0]);
    assert!(errors[1].contains("end of line"), "{}", errors[1]);
    assert!(errors[2].contains("$status"), "{}", errors[2]);
    assert!(
        errors[3].contains("$time_local") && errors[3].contains("31/Feb/2023"),
        "{}",
        errors[3]
    );
    // The decoder keeps working after failures.
    assert!(decode(&mut d, &lines[20]).is_ok());
}

#[test]
fn user_agent_transform_keep_and_conditional() {
    let lines = fixture_lines("nginx/combined.log");
    let mut d = combined(&[("user_agent_transform", true.into())]);
    let cases = [
        (0, "Firefox", 118.0, "Linux"),
        (2, "Edge", 117.0, "Windows 10"),
        (5, "Safari", 17.0, "iPhone"),
        (8, "Chrome", 118.0, "Android"),
        (12, "Safari", 16.0, "Macintosh"),
        (13, "MSIE", 11.0, "Windows 7"),
        (14, "Opera", 95.0, "Windows 7"),
    ];
    for (i, browser, version, os) in cases {
        let m = decode(&mut d, &lines[i]).unwrap();
        assert_eq!(text(&m, "user_agent_browser").unwrap(), browser, "line {i}");
        assert_eq!(number(&m, "user_agent_version"), Some(version), "line {i}");
        assert_eq!(text(&m, "user_agent_os").unwrap(), os, "line {i}");
        assert!(m.field(b"http_user_agent", 0).is_none(), "dropped");
    }
    // curl: no browser recognised, and the raw agent is dropped anyway.
    let m = decode(&mut d, &lines[4]).unwrap();
    assert!(m.field(b"user_agent_browser", 0).is_none());
    assert!(m.field(b"http_user_agent", 0).is_none());

    let mut d = combined(&[
        ("user_agent_transform", true.into()),
        ("user_agent_conditional", true.into()),
    ]);
    let m = decode(&mut d, &lines[4]).unwrap();
    assert_eq!(text(&m, "http_user_agent").unwrap(), "curl/8.4.0");
    let m = decode(&mut d, &lines[0]).unwrap();
    assert!(m.field(b"http_user_agent", 0).is_none());

    let mut d = combined(&[
        ("user_agent_transform", true.into()),
        ("user_agent_keep", true.into()),
        ("payload_keep", true.into()),
    ]);
    let m = decode(&mut d, &lines[0]).unwrap();
    assert_eq!(text(&m, "user_agent_browser").unwrap(), "Firefox");
    assert!(text(&m, "http_user_agent").is_some());
    assert_eq!(header(&m.payload), format!("{}\n", lines[0]));
}

#[test]
fn timed_format_reads_durations_lists_and_iso_times() {
    let lines = fixture_lines("nginx/timed.log");
    let mut d = decoder("decoders/nginx_access.lua", &[("log_format", TIMED.into())]);
    // [2023-10-10T20:55:36+00:00] ... 200 0.012 0.010 812 421
    let m = decode(&mut d, &lines[0]).unwrap();
    assert_eq!(m.timestamp, secs(1_696_971_336));
    assert_eq!(header(&m.r#type), "logfile", "no type: the input's");
    assert_eq!(number(&m, "request_time"), Some(0.012));
    assert_eq!(representation(&m, "request_time").unwrap(), "s");
    assert_eq!(number(&m, "upstream_response_time"), Some(0.010));
    assert_eq!(number(&m, "bytes_sent"), Some(812.0));
    assert_eq!(number(&m, "request_length"), Some(421.0));
    assert_eq!(representation(&m, "request_length").unwrap(), "B");

    // [2023-10-10T22:55:37+02:00] ... 502 3.001 1.500, 0.750 : 0.751 552 400
    let m = decode(&mut d, &lines[1]).unwrap();
    assert_eq!(m.timestamp, secs(1_696_971_337));
    assert_eq!(
        numbers(&m, "upstream_response_time"),
        vec![1.5, 0.75, 0.751]
    );
    assert_eq!(representation(&m, "upstream_response_time").unwrap(), "s");
    assert_eq!(number(&m, "bytes_sent"), Some(552.0));

    // An upstream time of "-" (no upstream) gives no field.
    let m = decode(&mut d, &lines[2]).unwrap();
    assert!(m.field(b"upstream_response_time", 0).is_none());
    assert_eq!(number(&m, "request_time"), Some(0.0));
    assert_eq!(number(&m, "bytes_sent"), Some(90210.0));

    let e = decode_error(&mut d, &lines[3]);
    assert!(e.contains("$request_time") && e.contains("fast"), "{e}");
}

#[test]
fn a_bad_log_format_fails_the_build_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let build = |format: Option<&str>| {
        let config: Vec<(&str, toml::Value)> = format
            .map(|f| vec![("log_format", f.into())])
            .unwrap_or_default();
        let spec = spec("SandboxDecoder", "decoders/nginx_access.lua", &config);
        match hekad::plugins::sandbox::SandboxDecoder::build(&spec, &globals(dir.path())) {
            Ok(_) => panic!("{format:?} built"),
            Err(e) => e.message,
        }
    };
    let e = build(Some("$remote_addr$remote_user"));
    assert!(e.contains("nothing between them"), "{e}");
    let e = build(None);
    assert!(e.contains("log_format must be"), "{e}");
}
