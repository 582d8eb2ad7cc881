//! TcpOutput's side of hekad's acknowledgement protocol
//! (`require_acks = true`, see [`super::super::ack`]): after connecting it
//! waits for the receiver's greeting, counts the bytes it writes on the
//! connection, and after each write waits until the receiver acknowledged
//! all of them. Each wait is bounded: no greeting within
//! [`GREETING_TIMEOUT`] (or `ack_timeout` if shorter) means the peer does
//! not speak the protocol, a clear error; no acknowledgement progress for
//! `ack_timeout` means the connection is treated as broken, and the
//! output reconnects and sends again what was not acknowledged.

use std::io::{self, ErrorKind};
use std::time::Duration;

use super::super::ack::AckParser;
use super::conn::Conn;

/// The longest a new connection waits for the receiver's greeting.
pub const GREETING_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an acknowledged connection cannot go on.
#[derive(Debug)]
pub(super) enum Broken {
    /// The connection failed or stalled: reconnect and resend.
    Io(io::Error),
    /// The peer does not speak the protocol: a configuration error.
    Peer(String),
}

impl From<io::Error> for Broken {
    fn from(err: io::Error) -> Self {
        Broken::Io(err)
    }
}

/// One connection's acknowledgement state.
#[derive(Debug)]
pub(super) struct Acks {
    parser: AckParser,
    timeout: Duration,
    /// Bytes written on this connection.
    pub(super) sent: u64,
}

impl Acks {
    /// Waits for the greeting on the new connection `conn`.
    pub(super) async fn greet(
        conn: &mut Conn,
        timeout: Duration,
        address: &str,
    ) -> Result<Acks, Broken> {
        let mut acks = Acks {
            parser: AckParser::new(),
            timeout,
            sent: 0,
        };
        let within = timeout.min(GREETING_TIMEOUT);
        let greeted = tokio::time::timeout(within, async {
            while !acks.parser.greeted() {
                acks.receive(conn).await?;
            }
            Ok::<_, Broken>(())
        });
        match greeted.await {
            Ok(result) => result.map(|()| acks),
            Err(_) => Err(Broken::Peer(format!(
                "require_acks: {address} sent no acknowledgement greeting within {within:?}; \
                 is it a hekad TcpInput with `acknowledge = true`?"
            ))),
        }
    }

    /// The newest acknowledged position on this connection.
    pub(super) fn acked(&self) -> u64 {
        self.parser.acked()
    }

    /// Waits until every byte written so far is acknowledged.
    pub(super) async fn settle(&mut self, conn: &mut Conn) -> Result<(), Broken> {
        while self.parser.acked() < self.sent {
            match tokio::time::timeout(self.timeout, self.receive(conn)).await {
                Ok(result) => result?,
                Err(_) => {
                    return Err(Broken::Io(io::Error::new(
                        ErrorKind::TimedOut,
                        format!("no acknowledgement for {:?}", self.timeout),
                    )));
                }
            }
        }
        Ok(())
    }

    /// Reads once from the peer and parses what came.
    async fn receive(&mut self, conn: &mut Conn) -> Result<(), Broken> {
        let mut buf = [0u8; 512];
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Err(Broken::Io(io::Error::new(
                ErrorKind::UnexpectedEof,
                "the peer closed the connection before acknowledging",
            )));
        }
        self.parser
            .feed(&buf[..n])
            .map_err(|err| Broken::Peer(format!("require_acks: {err}")))
    }
}

/// The index of the first record of `ends[next..last]` (record ends in
/// the batch) not acknowledged, when the write of those records started at
/// batch offset `start`, connection offset `at`, and the connection's
/// acknowledged position is `acked`.
pub(super) fn first_unacked(
    ends: &[usize],
    next: usize,
    last: usize,
    start: usize,
    at: u64,
    acked: u64,
) -> usize {
    next + ends[next..last].partition_point(|&end| at + (end - start) as u64 <= acked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_at_the_first_record_not_acknowledged() {
        // Records end at 10, 25, 40, 60; this connection carried records
        // 1.. from batch offset 10, starting at connection offset 100.
        let ends = [10, 25, 40, 60];
        assert_eq!(first_unacked(&ends, 1, 4, 10, 100, 0), 1);
        assert_eq!(first_unacked(&ends, 1, 4, 10, 100, 114), 1);
        assert_eq!(first_unacked(&ends, 1, 4, 10, 100, 115), 2);
        assert_eq!(first_unacked(&ends, 1, 4, 10, 100, 149), 3);
        assert_eq!(first_unacked(&ends, 1, 4, 10, 100, 150), 4);
        // Only records of this write count, whatever `acked` says.
        assert_eq!(first_unacked(&ends, 1, 3, 10, 100, 500), 3);
    }
}
