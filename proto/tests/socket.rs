//! The framing codec on a real TCP connection over 127.0.0.1: a signing
//! writer, a verifying reader, corruption in the middle of the stream.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use heka_proto::HmacHashFunction;
use heka_proto::codec::HekaFramingCodec;
use heka_proto::deframer::{Authentication, Event};
use heka_proto::signing::{AuthError, Signers, SigningKey};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{FramedRead, FramedWrite};

fn key(secret: &str) -> SigningKey {
    SigningKey {
        signer: "ops".into(),
        version: 2,
        hash: HmacHashFunction::Sha1,
        key: secret.as_bytes().to_vec(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn signed_records_cross_a_socket_and_forgeries_are_rejected() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();

    let writer = tokio::spawn(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut good = FramedWrite::new(
            stream,
            HekaFramingCodec::new(1024).with_signing_key(key("right")),
        );
        good.send(&b"first"[..]).await.unwrap();
        good.get_mut().write_all(b"line noise").await.unwrap();
        let stream = good.into_inner();
        let mut forged = FramedWrite::new(
            stream,
            HekaFramingCodec::new(1024).with_signing_key(key("wrong")),
        );
        forged.send(&b"forged"[..]).await.unwrap();
        let mut plain = FramedWrite::new(forged.into_inner(), HekaFramingCodec::new(1024));
        plain.send(&b"unsigned"[..]).await.unwrap();
        // Dropping the stream closes the connection: the reader sees EOF.
    });

    let (stream, _) = listener.accept().await.unwrap();
    let mut signers = Signers::new();
    signers.insert_named("ops_2", "right").unwrap();
    let codec =
        HekaFramingCodec::new(1024).with_authentication(Authentication::Verify(signers.into()));
    let mut reader = FramedRead::new(stream, codec);
    let mut events = Vec::new();
    while let Some(event) = reader.next().await {
        events.push(event.unwrap());
    }
    writer.await.unwrap();

    assert_eq!(events.len(), 4, "{events:#?}");
    match &events[0] {
        Event::Record(r) => {
            assert_eq!(r.message, Bytes::from_static(b"first"));
            assert_eq!(r.signer.as_deref(), Some(&b"ops"[..]));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&events[1], Event::Corrupt { len: 10, .. }));
    assert!(matches!(
        &events[2],
        Event::Rejected {
            error: AuthError::BadDigest { version: 2, .. },
            ..
        }
    ));
    assert!(
        matches!(&events[3], Event::Record(r) if r.message == "unsigned" && r.signer.is_none())
    );
    let stats = reader.decoder().stats();
    assert_eq!(
        (stats.records, stats.rejected, stats.skipped_bytes),
        (2, 1, 10)
    );
}
