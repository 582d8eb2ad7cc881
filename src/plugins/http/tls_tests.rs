//! https end to end in one pipeline: a plain request to HttpListenInput
//! `plain` → HttpOutput over TLS (verifying the server against the test
//! CA) → HttpListenInput `secure` with `use_tls` → FileOutput. A client
//! that does not trust the CA gets nowhere.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use heka_actors::Pipeline;
use heka_actors::config::Config;

use crate::plugins::tcp::tls::testing::Pki;

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A blocking HTTP/1.1 POST on a fresh connection; the status line.
fn post(port: u16, body: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn https_output_to_a_tls_listen_input() {
    let pki = Pki::new();
    let (plain, secure) = (free_port(), free_port());
    let out = pki.dir.path().join("out.txt");
    let text = format!(
        r#"
        [plain]
        type = "HttpListenInput"
        address = "127.0.0.1:{plain}"

        [secure]
        type = "HttpListenInput"
        address = "127.0.0.1:{secure}"
        use_tls = true
        [secure.tls]
        cert_file = "{server_pem}"
        key_file = "{server_key}"

        [payload]
        type = "PayloadEncoder"
        append_newlines = false

        [forward]
        type = "HttpOutput"
        message_matcher = "Logger == 'plain'"
        address = "https://localhost:{secure}/in"
        encoder = "payload"
        http_timeout = 2000
        [forward.tls]
        root_cafile = "{ca}"

        [file]
        type = "FileOutput"
        message_matcher = "Logger == 'secure'"
        path = "{out}"
        encoder = "payload"
        flush_interval = 50
        "#,
        server_pem = pki.path("server.pem"),
        server_key = pki.path("server.key"),
        ca = pki.path("ca.pem"),
        out = out.display(),
    );
    actix_rt::System::new().block_on(async move {
        let config = Config::from_str(&text, std::path::Path::new("https.toml")).unwrap();
        let pipeline = Pipeline::start(
            config.globals,
            config.plugins,
            crate::catalogue::catalogue(),
        )
        .unwrap();
        let status = tokio::task::spawn_blocking(move || {
            // A plain-text client on the TLS port gets no HTTP answer.
            let refused = post(secure, "not tls");
            (post(plain, "over tls"), refused)
        })
        .await
        .unwrap();
        assert_eq!(status.0, "HTTP/1.1 200 OK");
        assert!(!status.1.starts_with("HTTP/1.1 200"), "{}", status.1);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = std::fs::read_to_string(&out).unwrap_or_default();
            if got == "over tls\n" || got == "over tls" {
                break;
            }
            assert!(Instant::now() < deadline, "got {got:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stopped = tokio::time::timeout(Duration::from_secs(15), pipeline.stop()).await;
        assert_eq!(stopped.unwrap(), 0);
    });
}
