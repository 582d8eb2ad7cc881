//! `heka.output-failure`: what an output gives up on goes back to the
//! router instead of being lost. When an OutputRunner drops records (a
//! non-retryable write error, retries exhausted, an encoder error, the
//! shutdown timeout, records reaching an output that exited) it builds one
//! failure message per record and routes it from the inject pool, so a
//! config can send failures to a file or another output:
//!
//! - Type `heka.output-failure`, Logger the output's name, Severity 3,
//!   Payload the error;
//! - Fields `output` (name), `output_type`, `error`, `original_type` (the
//!   failed message's Type) and `message`, the failed message's protobuf
//!   bytes exactly as routed (decode them with `decode_message`, or write
//!   the field's bytes framed to replay them).
//!
//! Loops are refused, counted and logged: a failure message that the
//! failing output's own matcher would take back, and a chain that went
//! round more than `max_message_loops` times (each failure counts one).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use heka_grammar::Matcher;
use heka_proto::{Field, MessageView};

use crate::ack::Ack;
use crate::messages::Route;
use crate::pack::{Pack, PackRef};
use crate::plugin::message_defaults;
use crate::runner::Env;

/// The Type of the message an output injects for each record it gave up on.
pub const OUTPUT_FAILURE: &str = "heka.output-failure";

/// Builds an output's failure messages.
pub(crate) struct Failures {
    name: Arc<str>,
    type_name: Arc<str>,
    hostname: Arc<str>,
    pid: i32,
    max_loops: u32,
    /// The output's own matcher (none in tests and embedders that start a
    /// runner without one: then only the loop count guards).
    matcher: Option<Arc<Matcher>>,
}

/// One failure message: its view, loop count and the failed pack's Ack.
pub(crate) type Failure = (MessageView, u32, Option<Ack>);

/// Failure messages ready to route, and how many records got none.
pub(crate) struct FailureBatch {
    /// Each message with its loop count and the failed pack's Ack.
    pub messages: Vec<Failure>,
    /// Records whose failure message was refused (it would loop).
    pub refused: usize,
}

impl Failures {
    pub(crate) fn new(
        name: Arc<str>,
        type_name: Arc<str>,
        hostname: &str,
        pid: i32,
        max_loops: u32,
    ) -> Failures {
        Failures {
            name,
            type_name,
            hostname: hostname.into(),
            pid,
            max_loops,
            matcher: None,
        }
    }

    pub(crate) fn set_matcher(&mut self, matcher: Arc<Matcher>) {
        self.matcher = Some(matcher);
    }

    /// One failure message per pack, `error` saying why.
    pub(crate) fn build(&self, packs: &[PackRef], error: &str) -> FailureBatch {
        let mut batch = FailureBatch {
            messages: Vec::with_capacity(packs.len()),
            refused: 0,
        };
        for pack in packs {
            let loops = pack.loops + 1;
            let view = (loops <= self.max_loops)
                .then(|| self.message(pack, error))
                .flatten()
                .filter(|view| !self.matcher.as_ref().is_some_and(|m| m.matches(view)));
            match view {
                Some(view) => batch.messages.push((view, loops, pack.ack().cloned())),
                None => batch.refused += 1,
            }
        }
        batch
    }

    fn message(&self, pack: &PackRef, error: &str) -> Option<MessageView> {
        let mut msg = message_defaults(&self.hostname, self.pid);
        msg.r#type = Some(Bytes::from_static(OUTPUT_FAILURE.as_bytes()));
        msg.logger = Some(Bytes::copy_from_slice(self.name.as_bytes()));
        msg.severity = Some(3);
        msg.payload = Some(Bytes::copy_from_slice(error.as_bytes()));
        msg.fields = vec![
            Field::string("output", self.name.as_bytes()),
            Field::string("output_type", self.type_name.as_bytes()),
            Field::string("error", error.as_bytes()),
            Field::string("original_type", pack.message.r#type()),
            Field::bytes("message", pack.message.raw()),
        ];
        MessageView::from_message(&msg).ok()
    }
}

/// Routes failure messages from the inject pool, a quarter of the pool at
/// a time. An empty pool is waited for a bounded time (the packs holding
/// it may sit behind this very output); what still finds no pack, or no
/// router, is logged here (the caller counted every record as dropped).
pub(crate) async fn route_failures(env: &Env, output: &str, messages: Vec<Failure>) {
    let chunk = (env.inject_pool.size() / 4).max(1);
    let mut lost = 0;
    let mut messages = messages.into_iter().peekable();
    while messages.peek().is_some() {
        let part: Vec<_> = messages.by_ref().take(chunk).collect();
        let permits = tokio::time::timeout(INJECT_WAIT, env.inject_pool.acquire(part.len()))
            .await
            .unwrap_or_default();
        lost += part.len() - permits.len();
        let packs: Vec<PackRef> = part
            .into_iter()
            .zip(permits)
            .map(|((view, loops, ack), permit)| {
                let mut pack = Pack::pooled(view, None, loops, permit);
                // The producer's position waits for the failure message.
                if let Some(ack) = ack {
                    pack.set_ack(ack);
                }
                Arc::new(pack)
            })
            .collect();
        let n = packs.len();
        if n > 0 && env.router.send(Route(packs)).await.is_err() {
            lost += n;
        }
    }
    if lost > 0 {
        tracing::error!(plugin = %output, records = lost, "Failed records lost: no pack or router for their heka.output-failure message.");
    }
}

/// How long a failing output waits for inject-pool packs.
const INJECT_WAIT: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;
    use heka_proto::{FieldValue, Message};

    fn pack(kind: &str, loops: u32) -> PackRef {
        let mut msg = Message::new([7; 16], 1);
        msg.r#type = Some(Bytes::copy_from_slice(kind.as_bytes()));
        msg.payload = Some(Bytes::from_static(b"original payload"));
        let mut pack = Pack::detached(MessageView::from_message(&msg).unwrap());
        pack.loops = loops;
        Arc::new(pack)
    }

    fn failures() -> Failures {
        Failures::new("out".into(), "TcpOutput".into(), "host", 42, 4)
    }

    #[test]
    fn a_failure_carries_the_original_bytes_and_the_error() {
        let original = pack("nginx", 0);
        let batch = failures().build(std::slice::from_ref(&original), "refused");
        assert_eq!(batch.refused, 0);
        let (view, loops, _) = &batch.messages[0];
        assert_eq!(*loops, 1);
        assert_eq!(view.r#type(), b"heka.output-failure");
        assert_eq!(view.logger(), b"out");
        assert_eq!(view.payload(), b"refused");
        assert_eq!(view.severity(), 3);
        let field = |name: &str| match view.field_value(name.as_bytes(), 0, 0) {
            Some(FieldValue::String(s) | FieldValue::Bytes(s)) => s.to_vec(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(field("output"), b"out");
        assert_eq!(field("output_type"), b"TcpOutput");
        assert_eq!(field("original_type"), b"nginx");
        assert_eq!(field("error"), b"refused");
        let carried = field("message");
        assert_eq!(&carried[..], &original.message.raw()[..]);
        let back = MessageView::decode(Bytes::from(carried)).unwrap();
        assert_eq!(back.payload(), b"original payload");
    }

    #[test]
    fn a_failure_message_holds_the_failed_records_ack() {
        let mut tracker = crate::ack::Tracker::new();
        let mut pack = Pack::detached(pack("nginx", 0).message.clone());
        pack.set_ack(tracker.mark(10u64));
        let pack = Arc::new(pack);
        let batch = failures().build(std::slice::from_ref(&pack), "down");
        drop(pack);
        assert_eq!(
            tracker.settled(),
            None,
            "the failure message still carries it"
        );
        drop(batch);
        assert_eq!(tracker.settled(), Some(10));
    }

    #[test]
    fn loops_and_self_matches_are_refused() {
        let mut f = failures();
        let batch = f.build(&[pack("a", 3), pack("b", 4)], "x");
        assert_eq!((batch.messages.len(), batch.refused), (1, 1));
        f.set_matcher(Arc::new(
            Matcher::compile("Type == 'heka.output-failure'").unwrap(),
        ));
        let batch = f.build(&[pack("a", 0)], "x");
        assert_eq!((batch.messages.len(), batch.refused), (0, 1));
        f.set_matcher(Arc::new(Matcher::compile("Type == 'nginx'").unwrap()));
        assert_eq!(f.build(&[pack("nginx", 0)], "x").messages.len(), 1);
    }
}
