//! TcpInput's tests: TLS acceptors from the `[<name>.tls]` table, and the
//! whole TLS path through a pipeline.

use super::super::tls::testing::{Pki, spec};
use super::*;
use heka_actors::Pipeline;
use heka_actors::config::Config;
use heka_proto::deframer::{Deframer, Event};
use heka_proto::framing::{DEFAULT_MAX_MESSAGE_SIZE, encode_frame};
use heka_proto::prost::Message as _;
use heka_proto::{Message, MessageView};
use std::future::Future;
use std::net::SocketAddr;
use tokio::io::AsyncReadExt;

const LIMIT: Duration = Duration::from_secs(5);

async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut).await.expect("timed out")
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn framed(payloads: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for payload in payloads {
        let msg = Message {
            uuid: vec![9; 16].into(),
            timestamp: 1,
            r#type: Some("tls.test".into()),
            payload: Some(payload.to_string().into_bytes().into()),
            ..Message::default()
        };
        encode_frame(
            &msg.encode_to_vec(),
            None,
            DEFAULT_MAX_MESSAGE_SIZE,
            &mut out,
        )
        .unwrap();
    }
    out
}

/// A TLS client of `addr` trusting ca.pem, with `cert` (`client` or
/// `stranger`) as its certificate if given; sends `data` and closes.
async fn send(pki: &Pki, addr: SocketAddr, cert: Option<&str>, data: &[u8]) -> bool {
    let mut keys = vec![("root_cafile", "ca.pem".into())];
    if let Some(cert) = cert {
        keys.push(("cert_file", format!("{cert}.pem").into()));
        keys.push(("key_file", format!("{cert}.key").into()));
    }
    let tls: TlsConfig = pki.table(&keys).try_into().unwrap();
    let client = tls
        .connector(&spec("TcpOutput", &[], None), &addr.to_string())
        .unwrap();
    let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let Ok(mut stream) = client.connector.connect(client.server_name, socket).await else {
        return false;
    };
    // TLS 1.3: the server checks the client's certificate after the
    // client's handshake is done, so a refusal shows on first use.
    if stream.write_all(data).await.is_err() || stream.shutdown().await.is_err() {
        return false;
    }
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.is_ok()
}

#[test]
fn tls_input_builds_an_acceptor_from_its_table() {
    let pki = Pki::new();
    let tls = pki.table(&[
        ("cert_file", "server.pem".into()),
        ("key_file", "server.key".into()),
    ]);
    let options = [("address", "127.0.0.1:0".into()), ("use_tls", true.into())];
    let ok = spec("TcpInput", &options, Some(tls.clone()));
    assert!(TcpInput::build(&ok, &Globals::default()).is_ok());
    let err = TcpInput::build(&spec("TcpInput", &options, None), &Globals::default())
        .err()
        .unwrap()
        .message;
    assert!(err.contains("tls.cert_file"), "{err}");
    // Without use_tls the table is checked for unknown keys only.
    let mut missing = tls;
    missing.insert("cert_file".into(), pki.path("nowhere.pem").into());
    let plain = spec(
        "TcpInput",
        &[("address", "127.0.0.1:0".into())],
        Some(missing),
    );
    assert!(TcpInput::build(&plain, &Globals::default()).is_ok());
}

/// The whole path: TLS clients → TcpInput (client certificates
/// required) → router → TcpOutput over TLS → a rustls server here.
/// A client without a certificate is refused and the listener goes on.
#[test]
fn tls_end_to_end_through_a_pipeline() {
    let pki = Pki::new();
    let input_port = free_port();
    let input: SocketAddr = format!("127.0.0.1:{input_port}").parse().unwrap();
    let text = format!(
        r#"
        [TlsIn]
        type = "TcpInput"
        address = "{input}"
        use_tls = true
        [TlsIn.tls]
        cert_file = "{server_pem}"
        key_file = "{server_key}"
        client_auth = "RequireAndVerifyClientCert"
        client_cafile = "{ca}"

        [TlsOut]
        type = "TcpOutput"
        message_matcher = "Type == 'tls.test'"
        encoder = "ProtobufEncoder"
        address = "127.0.0.1:{{OUT}}"
        use_tls = true
        [TlsOut.tls]
        root_cafile = "{ca}"
        server_name = "localhost"
        "#,
        server_pem = pki.path("server.pem"),
        server_key = pki.path("server.key"),
        ca = pki.path("ca.pem"),
    );
    actix_rt::System::new().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let out_port = listener.local_addr().unwrap().port();
        let text = text.replace("{OUT}", &out_port.to_string());
        let config = Config::from_str(&text, std::path::Path::new("tls.toml")).unwrap();
        let acceptor: TlsConfig = pki
            .table(&[
                ("cert_file", "server.pem".into()),
                ("key_file", "server.key".into()),
            ])
            .try_into()
            .unwrap();
        let acceptor = acceptor.acceptor(&spec("TcpInput", &[], None)).unwrap();
        // The output's peer: collects payloads until it has three.
        let receiver = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut stream = acceptor.accept(socket).await.unwrap();
            let mut deframer = Deframer::new(DEFAULT_MAX_MESSAGE_SIZE);
            let mut buf = bytes::BytesMut::new();
            let mut payloads = Vec::new();
            while payloads.len() < 3 {
                assert!(stream.read_buf(&mut buf).await.unwrap() > 0);
                while let Some(event) = deframer.next(&mut buf) {
                    let Event::Record(record) = event else {
                        panic!("{event:?}");
                    };
                    let view = MessageView::decode(record.message).unwrap();
                    payloads.push(String::from_utf8(view.payload().to_vec()).unwrap());
                }
            }
            payloads
        });
        let pipeline = Pipeline::start(
            config.globals,
            config.plugins,
            crate::catalogue::catalogue(),
        )
        .unwrap();
        assert!(!within(send(&pki, input, None, &framed(&["anonymous"]))).await);
        assert!(!within(send(&pki, input, Some("stranger"), &framed(&["stranger"]))).await);
        assert!(within(send(&pki, input, Some("client"), &framed(&["one", "two"]))).await);
        assert!(within(send(&pki, input, Some("client"), &framed(&["three"]))).await);
        let got = within(receiver).await.unwrap();
        assert_eq!(got, ["one", "two", "three"]);
        assert_eq!(within(pipeline.stop()).await, 0);
    });
}

/// hekad's acknowledgements over TLS, both ends real: a TcpOutput with
/// `require_acks` writes to a pipeline whose TcpInput (TLS,
/// `acknowledge`) forwards to a plain TcpOutput peer here. Each `write`
/// returns Ok only once acknowledged, so by then the records must have
/// left the receiving pipeline.
#[test]
fn acknowledged_forwarding_over_tls() {
    let pki = Pki::new();
    let input: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = format!(
        r#"
        [AckIn]
        type = "TcpInput"
        address = "{input}"
        use_tls = true
        acknowledge = true
        [AckIn.tls]
        cert_file = "{server_pem}"
        key_file = "{server_key}"

        [Plain]
        type = "TcpOutput"
        message_matcher = "Type == 'tls.test'"
        encoder = "ProtobufEncoder"
        address = "127.0.0.1:{{OUT}}"
        use_buffering = false
        "#,
        server_pem = pki.path("server.pem"),
        server_key = pki.path("server.key"),
    );
    actix_rt::System::new().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let out_port = listener.local_addr().unwrap().port();
        let text = text.replace("{OUT}", &out_port.to_string());
        let config = Config::from_str(&text, std::path::Path::new("acks.toml")).unwrap();
        // The far end: counts payloads as they arrive.
        let (seen_tx, mut seen) = tokio::sync::watch::channel(Vec::<String>::new());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut deframer = Deframer::new(DEFAULT_MAX_MESSAGE_SIZE);
            let mut buf = bytes::BytesMut::new();
            while socket.read_buf(&mut buf).await.unwrap() > 0 {
                while let Some(Event::Record(record)) = deframer.next(&mut buf) {
                    let view = MessageView::decode(record.message).unwrap();
                    let payload = String::from_utf8(view.payload().to_vec()).unwrap();
                    seen_tx.send_modify(|seen| seen.push(payload));
                }
            }
        });
        let pipeline = Pipeline::start(
            config.globals,
            config.plugins,
            crate::catalogue::catalogue(),
        )
        .unwrap();
        let tls = pki.table(&[("root_cafile", "ca.pem".into())]);
        let options = [
            ("address", input.to_string().into()),
            ("use_tls", true.into()),
            ("require_acks", true.into()),
            ("ack_timeout", "5s".into()),
        ];
        let spec = spec("TcpOutput", &options, Some(tls));
        let mut sender = super::super::build_output(&spec, &Globals::default()).unwrap();
        for (round, payloads) in [["one", "two"], ["three", "four"]].iter().enumerate() {
            let batch = batch_of(&framed(payloads));
            within(sender.write(&batch)).await.unwrap();
            // Acknowledged: the receiving pipeline's output has written them.
            let want = 2 * (round + 1);
            within(seen.wait_for(|seen| seen.len() >= want))
                .await
                .unwrap();
        }
        assert_eq!(*seen.borrow(), ["one", "two", "three", "four"]);
        within(sender.shutdown()).await.unwrap();
        assert_eq!(within(pipeline.stop()).await, 0);
    });
}

/// `bytes` (whole frames) as one batch for an output's `write`.
fn batch_of(bytes: &[u8]) -> heka_actors::pack::EncodedBatch {
    let mut deframer = Deframer::new(DEFAULT_MAX_MESSAGE_SIZE);
    let mut buf = bytes::BytesMut::from(bytes);
    let mut batch = heka_actors::pack::EncodedBatch::default();
    while let Some(Event::Record(record)) = deframer.next(&mut buf) {
        batch.data.extend_from_slice(&record.framed);
        batch.ends.push(batch.data.len());
    }
    batch
}
