//! Every actix message the runtime exchanges, in one place. Data moves in
//! batches (`Route`, `Deliver`) so one actor hop carries many packs.

use std::sync::Arc;

use actix::prelude::*;
use bytes::Bytes;
use heka_grammar::Matcher;

use crate::pack::PackRef;
use crate::stats::RunnerStats;

/// Packs for the router to match and forward. Senders use `try_send` and
/// park on `send()` only while the router's mailbox is full, one batch at a
/// time; every pack holds a pool permit, so what is in flight is bounded.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Route(pub Vec<PackRef>);

/// Matched packs for one filter or output runner.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Vec<PackRef>);

/// Adds (or replaces, by name) a router destination.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    /// Runner name.
    pub name: Arc<str>,
    /// Its compiled `message_matcher`.
    pub matcher: Arc<Matcher>,
    /// Its `message_signer`: only packs from this signer match.
    pub signer: Option<Bytes>,
    /// Where matched packs go.
    pub recipient: Recipient<Deliver>,
    /// The runner's statistics (the router counts matches and queue depth).
    pub stats: Arc<RunnerStats>,
}

/// Removes a router destination; packs already handed over stay queued.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe(pub Arc<str>);

/// Asks a runner to finish what it holds and stop taking work: inputs stop
/// reading, filters and outputs process their queue first (mailboxes are
/// FIFO) and flush. The reply means "everything before me is done".
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

/// Tells a buffered plugin's queue that its runner has drained: wait
/// (briefly) until the plugin handled what was fed to it, then write the
/// checkpoint. What is still on disk is delivered at the next start.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Settle;

/// Stops a drained actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// Rebuilds a filter from its spec if its watched files changed (or
/// unconditionally, on SIGHUP): the new instance is built first and swapped
/// in only if it built; queued packs stay in the mailbox.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload {
    /// Reload even if no watched file changed.
    pub force: bool,
}

/// SIGHUP: outputs reopen their files.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reopen;

/// A runner gave up on its plugin (retries exhausted or the plugin exited).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PluginExited {
    /// Runner name.
    pub name: Arc<str>,
    /// Plugin type.
    pub type_name: Arc<str>,
    /// Whether the plugin may exit without stopping hekad.
    pub can_exit: bool,
    /// Why it stopped.
    pub error: String,
}

/// Builds and starts a filter while the pipeline runs (dynamic sandboxes).
#[derive(Message)]
#[rtype(result = "Result<(), crate::plugin::BuildError>")]
pub struct AddFilter(pub crate::config::PluginSpec);

/// Replaces a running filter's plugin with one built from this spec (same
/// name); see [`crate::control::Control::replace`].
#[derive(Message)]
#[rtype(result = "Result<(), crate::plugin::BuildError>")]
pub struct ReplaceFilter(pub crate::config::PluginSpec);

/// Tells a filter runner to checkpoint its plugin and swap in one built from
/// this spec. The reply carries the new routing when the matcher or signer
/// changed (the supervisor then re-subscribes the runner).
#[derive(Message)]
#[rtype(result = "Result<Option<crate::build::Routing>, crate::plugin::BuildError>")]
pub struct Swap(pub crate::config::PluginSpec);

/// Stops a running filter: it leaves the router, processes what it has
/// queued, shuts down and is removed. The reply is false if no such filter.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct RemoveFilter(pub Arc<str>);

/// Asks the supervisor for an ordered shutdown with this exit code (the
/// first request sets the code).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown(pub i32);
