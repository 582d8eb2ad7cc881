//! One TcpInput connection with `acknowledge = true` (hekad's own
//! protocol, see [`super::super::ack`]): the stream is read as usual, each
//! flush marks the stream position it reached in the connection's ack
//! Tracker, and a writer beside the reader sends the greeting and then the
//! newest settled position whenever it moves, so the sender learns which
//! of its records every destination here handled.
//!
//! The writer never holds up the reader: acknowledgements are coalesced
//! (only the newest position is kept), so a sender slow to read them costs
//! nothing but stale acknowledgements. When the stream ends (the sender
//! closed, or a stop drained it) the writer waits for what was routed to
//! settle, bounded by `InputCx::settle_limit` (inputs stop first, so the
//! pipeline still runs meanwhile), sends the last position and closes its
//! side (close_notify over TLS).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;

use heka_actors::ack::{Completions, Tracker};
use heka_actors::plugin::{InputCx, StreamSink};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::sync::watch;

use super::super::ack::{ack_frame, greeting};

/// Reads `stream` into `sink`, acknowledging what settles.
pub(super) async fn acknowledged<S>(
    cx: &InputCx,
    sink: &mut StreamSink,
    stream: S,
    peer: SocketAddr,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (reader, writer) = tokio::io::split(stream);
    let tracker = RefCell::new(Tracker::<u64>::new());
    let completions = tracker.borrow().completions();
    let (done_tx, done_rx) = watch::channel(false);
    let reading = async {
        let result = sink
            .read_from_acked(reader, |position| Some(tracker.borrow_mut().mark(position)))
            .await;
        done_tx.send_replace(true);
        result
    };
    let writing = async {
        let mut ended = done_rx.clone();
        let acks = write_acks(writer, &tracker, &completions, done_rx);
        tokio::select! {
            result = acks => result,
            // Bounded once the stream is over.
            _ = async {
                let _ = ended.wait_for(|done| *done).await;
                tokio::time::sleep(cx.settle_limit()).await;
            } => {
                tracing::warn!(plugin = %cx.name(), peer = %peer, unsettled = tracker.borrow().pending(), "Records still in flight when the connection ended: not acknowledged, the sender will send them again.");
                Ok(())
            }
        }
    };
    let (read, write) = tokio::join!(reading, writing);
    if let Err(err) = write {
        tracing::debug!(plugin = %cx.name(), peer = %peer, error = %err, "Acknowledgements could not be sent.");
    }
    read
}

/// Sends the greeting, then each newer settled position; returns once the
/// stream is over (`done`) and every mark settled and was sent.
async fn write_acks<W: AsyncWrite>(
    mut writer: WriteHalf<W>,
    tracker: &RefCell<Tracker<u64>>,
    completions: &Completions,
    mut done: watch::Receiver<bool>,
) -> io::Result<()> {
    writer.write_all(&greeting()).await?;
    writer.flush().await?;
    let mut sent = 0;
    let mut over = false;
    loop {
        let settled = tokio::select! {
            position = completions.until(|| tracker.borrow_mut().settled()) => Some(position),
            _ = done.wait_for(|done| *done), if !over => None,
        };
        over = over || *done.borrow();
        if let Some(position) = settled.filter(|&p| p > sent) {
            writer.write_all(&ack_frame(position)).await?;
            writer.flush().await?;
            sent = position;
        }
        if over && tracker.borrow().pending() == 0 {
            // Everything read was acknowledged: close our side.
            let _ = writer.shutdown().await;
            return Ok(());
        }
    }
}
