//! TcpOutput over TLS: framed records delivered through a rustls
//! acceptor, resending after the peer closes, untrusted servers, and the
//! `tls` table checked when the output is built.

use super::super::super::tls::testing::Pki;
use super::*;
use heka_proto::deframer::{Deframer, Event};
use heka_proto::framing::{DEFAULT_MAX_MESSAGE_SIZE, encode_frame};
use heka_proto::prost::Message as _;
use heka_proto::{Message, MessageView};
use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsAcceptor;

fn acceptor(pki: &Pki, cert: &str) -> TlsAcceptor {
    let tls: TlsConfig = pki
        .table(&[
            ("cert_file", format!("{cert}.pem").into()),
            ("key_file", format!("{cert}.key").into()),
        ])
        .try_into()
        .unwrap();
    tls.acceptor(&PluginSpec::new("server", "TcpInput").unwrap())
        .unwrap()
}

fn tls_output(pki: &Pki, addr: SocketAddr) -> TcpOutput {
    let tls = pki.table(&[("root_cafile", "ca.pem".into())]);
    output(addr, &[("use_tls", true.into()), ("tls", tls.into())])
}

/// Heka frames of messages whose payloads are `payloads`.
fn framed(payloads: &[String]) -> EncodedBatch {
    let mut batch = EncodedBatch::default();
    for payload in payloads {
        let msg = Message {
            uuid: vec![7; 16].into(),
            timestamp: 1,
            payload: Some(payload.clone().into_bytes().into()),
            ..Message::default()
        };
        encode_frame(
            &msg.encode_to_vec(),
            None,
            DEFAULT_MAX_MESSAGE_SIZE,
            &mut batch.data,
        )
        .unwrap();
        batch.ends.push(batch.data.len());
    }
    batch
}

/// The payloads of the Heka frames in `bytes`; every byte must be
/// part of a whole frame.
fn unframe(bytes: &[u8]) -> Vec<String> {
    let mut buf = bytes::BytesMut::from(bytes);
    let mut deframer = Deframer::new(DEFAULT_MAX_MESSAGE_SIZE);
    let mut payloads = Vec::new();
    while let Some(event) = deframer.next_at_eof(&mut buf) {
        let Event::Record(record) = event else {
            panic!("not a whole record: {event:?}");
        };
        let view = MessageView::decode(record.message).unwrap();
        payloads.push(String::from_utf8(view.payload().to_vec()).unwrap());
    }
    assert!(buf.is_empty());
    payloads
}

fn payloads(prefix: &str, n: usize, size: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{prefix}{i:06}{}", "x".repeat(size)))
        .collect()
}

#[tokio::test]
async fn delivers_framed_records_over_tls() {
    let pki = Pki::new();
    let (listener, addr) = listen().await;
    let tls = acceptor(&pki, "server");
    let reader = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut stream = tls.accept(socket).await.unwrap();
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.unwrap();
        buf
    });
    let mut out = tls_output(&pki, addr);
    let small = payloads("small", 3, 10);
    // More than TLS_CHUNK, so the write is flushed in several chunks.
    let big = payloads("big", 100, 3000);
    within(out.write(&framed(&small))).await.unwrap();
    within(out.write(&framed(&big))).await.unwrap();
    within(out.shutdown()).await.unwrap();
    let got = unframe(&within(reader).await.unwrap());
    assert_eq!(got, [small, big].concat());
}

/// The peer reads one batch, then closes (with or without
/// close_notify) while its TLS 1.3 session tickets still sit unread
/// in the output's socket; the next batch must notice and go out
/// on a new connection instead of vanishing.
async fn resends_after_the_peer_closes(close_notify: bool) {
    let pki = Pki::new();
    let (listener, addr) = listen().await;
    let tls = acceptor(&pki, "server");
    let first = framed(&payloads("a", 3, 5));
    let want = first.data.len();
    let peer = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut stream = tls.accept(socket).await.unwrap();
        let mut buf = vec![0; want];
        stream.read_exact(&mut buf).await.unwrap();
        if close_notify {
            stream.shutdown().await.unwrap();
        }
        drop(stream);
        let (socket, _) = listener.accept().await.unwrap();
        let mut stream = tls.accept(socket).await.unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        (buf, rest)
    });
    let mut out = tls_output(&pki, addr);
    within(out.write(&first)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = payloads("b", 2, 5);
    write_until_ok(&mut out, &mut framed(&second)).await;
    within(out.shutdown()).await.unwrap();
    let (got_first, rest) = within(peer).await.unwrap();
    assert_eq!(unframe(&got_first), payloads("a", 3, 5));
    assert_eq!(unframe(&rest), second);
}

#[tokio::test]
async fn resends_after_the_peer_closes_with_close_notify() {
    resends_after_the_peer_closes(true).await;
}

#[tokio::test]
async fn resends_after_the_peer_drops_the_connection() {
    resends_after_the_peer_closes(false).await;
}

#[tokio::test]
async fn an_untrusted_server_is_a_retry() {
    let pki = Pki::new();
    let (listener, addr) = listen().await;
    let tls = acceptor(&pki, "other-server");
    let peer = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tls.accept(socket).await.is_err()
    });
    let mut out = tls_output(&pki, addr);
    match within(out.write(&batch(&["x"]))).await {
        Err(PluginError::Retry(text)) => {
            assert!(text.contains("TLS handshake failed"), "{text}");
            assert!(text.contains("UnknownIssuer"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(within(peer).await.unwrap());
}

#[test]
fn tls_config_is_checked_at_build() {
    let pki = Pki::new();
    let with = |options: &[(&str, toml::Value)]| {
        build(&spec("localhost:9125", options), &Globals::default())
            .err()
            .map(|e| e.message)
    };
    let roots = pki.table(&[("root_cafile", "ca.pem".into())]);
    assert_eq!(
        with(&[("use_tls", true.into()), ("tls", roots.into())]),
        None
    );
    let err = with(&[("use_tls", true.into())]).unwrap();
    assert!(err.contains("tls.root_cafile"), "{err}");
    let missing = pki.table(&[("root_cafile", "nowhere.pem".into())]);
    let err = with(&[("use_tls", true.into()), ("tls", missing.clone().into())]).unwrap();
    assert!(
        err.contains("section `Tcp`") && err.contains("nowhere.pem"),
        "{err}"
    );
    // Without use_tls the table is only checked for unknown keys.
    assert_eq!(with(&[("tls", missing.into())]), None);
    let mut unknown = toml::Table::new();
    unknown.insert("verify".into(), true.into());
    let err = with(&[("tls", unknown.into())]).unwrap();
    assert!(err.contains("unknown key `tls.verify`"), "{err}");
}
