//! CarbonOutput against real sockets on 127.0.0.1: a connection per batch,
//! a kept connection that notices its peer left, a refused connection
//! retried until carbon is back, and UDP datagrams cut between lines.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use heka_actors::pack::Pack;
use heka_proto::{Message, MessageView};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::*;

const LIMIT: Duration = Duration::from_secs(5);

fn spec(options: &[(&str, toml::Value)]) -> PluginSpec {
    let mut spec = PluginSpec::new("carbon", "CarbonOutput").unwrap();
    for (k, v) in options {
        spec.options.insert((*k).into(), v.clone());
    }
    spec
}

fn output(options: &[(&str, toml::Value)]) -> CarbonOutput {
    let s = spec(options);
    CarbonOutput::new(&s, crate::plugins::options(&s).unwrap()).unwrap()
}

fn batch(payloads: &[&str]) -> EncodedBatch {
    let packs = payloads
        .iter()
        .map(|p| {
            let mut msg = Message::new([3; 16], 1);
            msg.r#type = Some(Bytes::from_static(b"heka.statmetric"));
            msg.payload = Some(Bytes::copy_from_slice(p.as_bytes()));
            Arc::new(Pack::detached(MessageView::from_message(&msg).unwrap()))
        })
        .collect();
    EncodedBatch {
        packs,
        ..EncodedBatch::default()
    }
}

async fn read_connection(listener: &TcpListener) -> String {
    let (mut socket, _) = tokio::time::timeout(LIMIT, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut text = String::new();
    tokio::time::timeout(LIMIT, socket.read_to_string(&mut text))
        .await
        .unwrap()
        .unwrap();
    text
}

#[test]
fn options_are_checked() {
    let g = Globals::default();
    assert!(CarbonOutput::build(&spec(&[]), &g).is_ok());
    let err = CarbonOutput::build(&spec(&[("protocol", "sctp".into())]), &g)
        .err()
        .unwrap();
    assert!(err.message.contains("sctp"), "{}", err.message);
    assert!(CarbonOutput::build(&spec(&[("address", "nohost".into())]), &g).is_err());
    assert!(!output(&[]).needs_encoder());
}

#[tokio::test]
async fn each_batch_gets_its_own_connection_by_default() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut out = output(&[("address", addr.into())]);
    let first = batch(&["a 1 1700000000\n", "b 2.500000 1700000000\nnot a line\n"]);
    out.write(&first).await.unwrap();
    assert_eq!(
        read_connection(&listener).await,
        "a 1 1700000000\nb 2.500000 1700000000\n"
    );
    out.write(&batch(&["c 3 1700000010"])).await.unwrap();
    assert_eq!(read_connection(&listener).await, "c 3 1700000010\n");
    assert_eq!(out.report_fields(), [(FIGURE_MALFORMED, 1, "count")]);
}

#[tokio::test]
async fn a_refused_connection_is_retried_until_carbon_is_back() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut out = output(&[("address", format!("127.0.0.1:{port}").into())]);
    let mut b = batch(&["x 1 1700000000\nbroken\n"]);
    let err = out.write(&b).await.unwrap_err();
    assert!(matches!(err, PluginError::Retry(_)), "{err:?}");
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    b.attempt = 1;
    out.write(&b).await.unwrap();
    assert_eq!(read_connection(&listener).await, "x 1 1700000000\n");
    // The malformed line was counted once, not once per attempt.
    assert_eq!(out.report_fields(), [(FIGURE_MALFORMED, 1, "count")]);
}

#[tokio::test]
async fn a_kept_connection_is_replaced_when_carbon_closed_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut out = output(&[("address", addr.into()), ("tcp_keep_alive", true.into())]);
    out.write(&batch(&["a 1 1"])).await.unwrap();
    out.write(&batch(&["b 2 2"])).await.unwrap();
    let (mut first, _) = listener.accept().await.unwrap();
    let mut buf = vec![0u8; 64];
    let mut got = Vec::new();
    while got.len() < 12 {
        let n = tokio::time::timeout(LIMIT, first.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"a 1 1\nb 2 2\n");
    drop(first);
    // Let the FIN arrive before the next write.
    tokio::time::sleep(Duration::from_millis(50)).await;
    out.write(&batch(&["c 3 3"])).await.unwrap();
    out.shutdown().await.unwrap();
    assert_eq!(read_connection(&listener).await, "c 3 3\n");
}

#[tokio::test]
async fn udp_datagrams_are_cut_between_lines() {
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = peer.local_addr().unwrap().to_string();
    let mut out = output(&[("address", addr.into()), ("protocol", "udp".into())]);
    let mut payload = String::new();
    for i in 0..2000 {
        payload.push_str(&format!("stats.counters.key{i}.count {i} 1700000000\n"));
    }
    out.write(&batch(&[&payload])).await.unwrap();
    let mut got = String::new();
    let mut buf = vec![0u8; 70_000];
    let mut datagrams = 0;
    while got.len() < payload.len() {
        let n = tokio::time::timeout(LIMIT, peer.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n <= UDP_CHUNK);
        assert_eq!(buf[n - 1], b'\n', "datagrams end between lines");
        got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        datagrams += 1;
    }
    assert_eq!(got, payload);
    assert!(datagrams > 1);
}

#[test]
fn chunks_end_after_the_last_whole_line_that_fits() {
    let ends = [10, UDP_CHUNK - 5, UDP_CHUNK + 20, 3 * UDP_CHUNK];
    assert_eq!(chunk_end(&ends, 0), UDP_CHUNK - 5);
    assert_eq!(chunk_end(&ends, UDP_CHUNK - 5), UDP_CHUNK + 20);
    // A line longer than a datagram: nothing fits.
    assert_eq!(chunk_end(&ends, UDP_CHUNK + 20), UDP_CHUNK + 20);
}
