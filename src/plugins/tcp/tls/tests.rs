//! Tests of the TLS configurations: live handshakes between an acceptor
//! and a connector built from `[<name>.tls]` tables (this file), and the
//! checks those tables go through (`tests/validation.rs`).

use super::testing::{Pki, spec};
use super::*;
use rustls_pki_types::ServerName;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

mod validation;

const LIMIT: Duration = Duration::from_secs(5);

async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut).await.expect("timed out")
}

fn config(pki: &Pki, keys: &[(&str, toml::Value)]) -> TlsConfig {
    pki.table(keys).try_into().unwrap()
}

fn server(pki: &Pki, keys: &[(&str, toml::Value)]) -> TlsAcceptor {
    let mut all = vec![
        ("cert_file", "server.pem".into()),
        ("key_file", "server.key".into()),
    ];
    all.extend_from_slice(keys);
    config(pki, &all)
        .acceptor(&spec("TcpInput", &[], None))
        .unwrap()
}

fn client(pki: &Pki, addr: SocketAddr, keys: &[(&str, toml::Value)]) -> TlsClient {
    let mut all = vec![("root_cafile", "ca.pem".into())];
    all.extend_from_slice(keys);
    config(pki, &all)
        .connector(&spec("TcpOutput", &[], None), &addr.to_string())
        .unwrap()
}

/// What the server side of one connection saw: the plaintext, or the
/// handshake error; and the negotiated version and suite.
type Seen = Result<(Vec<u8>, Option<ProtocolVersion>, Option<String>), String>;

/// Accepts one connection with `acceptor` and reads it to its end.
async fn serve_one(acceptor: TlsAcceptor) -> (SocketAddr, tokio::task::JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut stream = acceptor.accept(socket).await.map_err(|e| e.to_string())?;
        let (_, session) = stream.get_ref();
        let version = session.protocol_version();
        let suite = session
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .map(str::to_owned);
        let mut data = Vec::new();
        stream
            .read_to_end(&mut data)
            .await
            .map_err(|e| e.to_string())?;
        Ok((data, version, suite))
    });
    (addr, task)
}

/// Connects with `tls`, sends `data` and closes; the client's error if
/// any.
async fn send(addr: SocketAddr, tls: &TlsClient, data: &[u8]) -> Result<(), String> {
    let socket = TcpStream::connect(addr).await.unwrap();
    let mut stream = tls
        .connector
        .connect(tls.server_name.clone(), socket)
        .await
        .map_err(|e| e.to_string())?;
    stream.write_all(data).await.map_err(|e| e.to_string())?;
    stream.shutdown().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn acceptor_and_connector_carry_data_over_tls13_by_default() {
    let pki = Pki::new();
    let (addr, seen) = serve_one(server(&pki, &[])).await;
    let tls = client(&pki, addr, &[]);
    assert_eq!(tls.server_name, ServerName::try_from("127.0.0.1").unwrap());
    within(send(addr, &tls, b"hello over TLS")).await.unwrap();
    let (data, version, _) = within(seen).await.unwrap().unwrap();
    assert_eq!(data, b"hello over TLS");
    assert_eq!(version, Some(ProtocolVersion::TLSv1_3));
}

#[tokio::test]
async fn server_name_overrides_the_address_host() {
    let pki = Pki::new();
    let (addr, seen) = serve_one(server(&pki, &[])).await;
    let tls = client(&pki, addr, &[("server_name", "localhost".into())]);
    assert_eq!(tls.server_name, ServerName::try_from("localhost").unwrap());
    within(send(addr, &tls, b"by name")).await.unwrap();
    assert_eq!(within(seen).await.unwrap().unwrap().0, b"by name");

    // A name the certificate does not carry fails verification.
    let (addr, seen) = serve_one(server(&pki, &[])).await;
    let tls = client(&pki, addr, &[("server_name", "elsewhere.test".into())]);
    let err = within(send(addr, &tls, b"x")).await.unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    assert!(within(seen).await.unwrap().is_err());
}

#[tokio::test]
async fn servers_signed_by_other_cas_are_refused_unless_insecure_skip_verify() {
    let pki = Pki::new();
    let other = &[
        ("cert_file", "other-server.pem".into()),
        ("key_file", "other-server.key".into()),
    ];
    let (addr, seen) = serve_one(
        config(&pki, other)
            .acceptor(&spec("TcpInput", &[], None))
            .unwrap(),
    )
    .await;
    let err = within(send(addr, &client(&pki, addr, &[]), b"x"))
        .await
        .unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(within(seen).await.unwrap().is_err());

    let (addr, seen) = serve_one(
        config(&pki, other)
            .acceptor(&spec("TcpInput", &[], None))
            .unwrap(),
    )
    .await;
    let insecure = config(&pki, &[("insecure_skip_verify", true.into())])
        .connector(&spec("TcpOutput", &[], None), &addr.to_string())
        .unwrap();
    within(send(addr, &insecure, b"trusting")).await.unwrap();
    assert_eq!(within(seen).await.unwrap().unwrap().0, b"trusting");
}

#[tokio::test]
async fn require_and_verify_client_cert_wants_one_signed_by_client_cafile() {
    let pki = Pki::new();
    let auth = [
        ("client_auth", "RequireAndVerifyClientCert".into()),
        ("client_cafile", "ca.pem".into()),
    ];
    // No certificate: the server refuses the handshake.
    let (addr, seen) = serve_one(server(&pki, &auth)).await;
    let _ = within(send(addr, &client(&pki, addr, &[]), b"anonymous")).await;
    let err = within(seen).await.unwrap().unwrap_err();
    assert!(err.contains("certificate"), "{err}");

    // A certificate from another CA: refused too.
    let (addr, seen) = serve_one(server(&pki, &auth)).await;
    let stranger = [
        ("cert_file", "stranger.pem".into()),
        ("key_file", "stranger.key".into()),
    ];
    let _ = within(send(addr, &client(&pki, addr, &stranger), b"stranger")).await;
    let err = within(seen).await.unwrap().unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");

    // A certificate signed by client_cafile: accepted.
    let (addr, seen) = serve_one(server(&pki, &auth)).await;
    let ours = [
        ("cert_file", "client.pem".into()),
        ("key_file", "client.key".into()),
    ];
    within(send(addr, &client(&pki, addr, &ours), b"known client"))
        .await
        .unwrap();
    assert_eq!(within(seen).await.unwrap().unwrap().0, b"known client");
}

#[tokio::test]
async fn verify_client_cert_if_given_lets_anonymous_clients_in() {
    let pki = Pki::new();
    let auth = [
        ("client_auth", "VerifyClientCertIfGiven".into()),
        ("client_cafile", "ca.pem".into()),
    ];
    let (addr, seen) = serve_one(server(&pki, &auth)).await;
    within(send(addr, &client(&pki, addr, &[]), b"anonymous"))
        .await
        .unwrap();
    assert_eq!(within(seen).await.unwrap().unwrap().0, b"anonymous");

    let (addr, seen) = serve_one(server(&pki, &auth)).await;
    let stranger = [
        ("cert_file", "stranger.pem".into()),
        ("key_file", "stranger.key".into()),
    ];
    let _ = within(send(addr, &client(&pki, addr, &stranger), b"x")).await;
    assert!(within(seen).await.unwrap().is_err());
}

#[tokio::test]
async fn max_version_and_ciphers_narrow_the_handshake() {
    let pki = Pki::new();
    let suite = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256";
    let narrow = [
        ("max_version", "TLS12".into()),
        (
            "ciphers",
            toml::Value::Array(vec!["TLS_RSA_WITH_RC4_128_SHA".into(), suite.into()]),
        ),
    ];
    let (addr, seen) = serve_one(server(&pki, &narrow)).await;
    // An old Heka floor (SSL30) still negotiates: TLS 1.2 is the floor.
    let tls = client(&pki, addr, &[("min_version", "SSL30".into())]);
    within(send(addr, &tls, b"tls12")).await.unwrap();
    let (data, version, negotiated) = within(seen).await.unwrap().unwrap();
    assert_eq!(data, b"tls12");
    assert_eq!(version, Some(ProtocolVersion::TLSv1_2));
    assert_eq!(negotiated.as_deref(), Some(suite));

    // A TLS 1.3-only client cannot talk to a TLS 1.2-only server.
    let (addr, seen) = serve_one(server(&pki, &narrow)).await;
    let tls = client(&pki, addr, &[("min_version", "TLS13".into())]);
    assert!(within(send(addr, &tls, b"x")).await.is_err());
    assert!(within(seen).await.unwrap().is_err());
}
