//! TcpOutput's tests: delivery, retries and reconnects against local
//! listeners (this file), and the same over TLS (`tests/tls.rs`).

use super::*;
use socket2::SockRef;
use std::future::Future;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

mod tls;

const LIMIT: Duration = Duration::from_secs(5);

async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut).await.expect("timed out")
}

fn spec(address: &str, options: &[(&str, toml::Value)]) -> PluginSpec {
    let mut spec = PluginSpec::new("Tcp", "TcpOutput").unwrap();
    spec.options.insert("address".into(), address.into());
    for (key, value) in options {
        spec.options.insert((*key).into(), value.clone());
    }
    spec
}

fn output(addr: SocketAddr, options: &[(&str, toml::Value)]) -> TcpOutput {
    let spec = spec(&addr.to_string(), options);
    let config: TcpOutputConfig = crate::plugins::options(&spec).unwrap();
    TcpOutput::new(&spec, &config).unwrap()
}

fn batch(records: &[&str]) -> EncodedBatch {
    let mut batch = EncodedBatch::default();
    for rec in records {
        batch.data.extend_from_slice(rec.as_bytes());
        batch.ends.push(batch.data.len());
    }
    batch
}

/// Calls `write` like the OutputRunner does: again with the same batch
/// after every Retry, with a short pause. Returns the Retry count.
async fn write_until_ok(out: &mut TcpOutput, batch: &mut EncodedBatch) -> usize {
    let mut retries = 0;
    loop {
        match within(out.write(batch)).await {
            Ok(()) => return retries,
            Err(PluginError::Retry(_)) if retries < 100 => retries += 1,
            Err(err) => panic!("after {retries} retries: {err}"),
        }
        batch.attempt += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Accepts one connection and reads it to its end.
fn read_one(listener: TcpListener) -> tokio::task::JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.unwrap();
        buf
    })
}

async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

#[tokio::test]
async fn delivers_batches_in_order() {
    let (listener, addr) = listen().await;
    let reader = read_one(listener);
    let mut out = output(addr, &[]);
    assert!(out.frames_protobuf_by_default());
    within(out.write(&batch(&["one\n", "two\n"])))
        .await
        .unwrap();
    within(out.write(&batch(&["three\n"]))).await.unwrap();
    within(out.shutdown()).await.unwrap();
    assert_eq!(within(reader).await.unwrap(), b"one\ntwo\nthree\n");
}

#[tokio::test]
async fn refused_at_start_is_retried_until_the_peer_listens() {
    let (listener, addr) = listen().await;
    drop(listener);
    let mut out = output(addr, &[]);
    let mut b = batch(&["a", "b"]);
    assert!(matches!(
        within(out.write(&b)).await,
        Err(PluginError::Retry(_))
    ));
    let reader = read_one(TcpListener::bind(addr).await.unwrap());
    write_until_ok(&mut out, &mut b).await;
    within(out.shutdown()).await.unwrap();
    assert_eq!(within(reader).await.unwrap(), b"ab");
}

#[tokio::test]
async fn survives_the_listener_dropping_and_coming_back() {
    let (listener, addr) = listen().await;
    let mut out = output(addr, &[]);
    let first = batch(&["a1;", "a2;", "a3;"]);
    let want = first.data.len();
    // The peer reads the first batch, then closes the connection and
    // stops listening.
    let reader = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = vec![0; want];
        stream.read_exact(&mut buf).await.unwrap();
        buf
    });
    within(out.write(&first)).await.unwrap();
    assert_eq!(within(reader).await.unwrap(), b"a1;a2;a3;");
    tokio::time::sleep(Duration::from_millis(50)).await;

    // The next batch finds the connection closed and the port refusing.
    let mut second = batch(&["b1;", "b2;"]);
    assert!(matches!(
        within(out.write(&second)).await,
        Err(PluginError::Retry(_))
    ));
    assert!(matches!(
        within(out.write(&second)).await,
        Err(PluginError::Retry(_))
    ));
    // The peer comes back on the same port; the same batch is resent.
    let reader = read_one(TcpListener::bind(addr).await.unwrap());
    write_until_ok(&mut out, &mut second).await;
    write_until_ok(&mut out, &mut batch(&["c1;"])).await;
    within(out.shutdown()).await.unwrap();
    assert_eq!(within(reader).await.unwrap(), b"b1;b2;c1;");
}

#[tokio::test]
async fn reconnect_after_opens_a_new_connection_every_n_records() {
    let (listener, addr) = listen().await;
    let reader = tokio::spawn(async move {
        let mut conns = Vec::new();
        for _ in 0..3 {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            stream.read_to_end(&mut buf).await.unwrap();
            conns.push(String::from_utf8(buf).unwrap());
        }
        conns
    });
    let mut out = output(addr, &[("reconnect_after", 2.into())]);
    within(out.write(&batch(&["1", "2", "3"]))).await.unwrap();
    within(out.write(&batch(&["4", "5"]))).await.unwrap();
    within(out.shutdown()).await.unwrap();
    assert_eq!(within(reader).await.unwrap(), ["12", "34", "5"]);
}

#[tokio::test]
async fn binds_local_address_and_sets_keep_alive() {
    let (listener, addr) = listen().await;
    let local = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut out = output(
        addr,
        &[
            ("local_address", local.to_string().into()),
            ("keep_alive", true.into()),
            ("keep_alive_period", 60.into()),
        ],
    );
    within(out.write(&batch(&["x"]))).await.unwrap();
    let (_stream, peer) = within(listener.accept()).await.unwrap();
    assert_eq!(peer, local);
    let conn = out.conn.as_ref().unwrap().tcp();
    assert!(SockRef::from(conn).keepalive().unwrap());
    assert!(conn.nodelay().unwrap());
}

#[test]
fn resume_starts_at_the_first_record_not_wholly_written() {
    let ends = [3, 6, 11];
    assert_eq!(resume_index(&ends, 0), 0);
    assert_eq!(resume_index(&ends, 2), 0);
    assert_eq!(resume_index(&ends, 3), 1);
    assert_eq!(resume_index(&ends, 5), 1);
    assert_eq!(resume_index(&ends, 6), 2);
    assert_eq!(resume_index(&ends, 11), 3);
    assert_eq!(record_start(&ends, 0), 0);
    assert_eq!(record_start(&ends, 2), 6);
}

fn error(options: &[(&str, toml::Value)]) -> String {
    let spec = spec("localhost:9125", options);
    build(&spec, &Globals::default()).err().unwrap().message
}

#[test]
fn config_is_checked_at_build() {
    let ok = spec(
        "localhost:9125",
        &[
            ("tls", toml::Table::new().into()),
            ("buffering", toml::Table::new().into()),
        ],
    );
    assert!(build(&ok, &Globals::default()).is_ok());
    let mut defaults = PluginSpec::new("Tcp", "TcpOutput").unwrap();
    defaults.options.clear();
    assert!(build(&defaults, &Globals::default()).is_ok());
    assert!(error(&[("use_tls", true.into())]).contains("root_cafile"));
    assert!(error(&[("local_address", "nowhere".into())]).contains("local_address"));
    assert!(error(&[("timeout", 5.into())]).contains("timeout"));
    let no_port = build(&spec("localhost", &[]), &Globals::default());
    assert!(no_port.err().unwrap().message.contains("host:port"));
}
