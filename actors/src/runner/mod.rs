//! What every runner shares: the environment it was started with, the
//! `retries` back-off, and the guard that turns a plugin panic into a
//! restart instead of a dead actor (actix does not supervise panics).

pub mod decode;
pub mod failure;
pub mod filter;
pub mod input;
pub mod output;
pub(crate) mod parts;
pub mod reload;
pub(crate) mod sink;
pub(crate) mod stream;

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::catalogue::Catalogue;
use crate::config::{Category, Globals, PluginSpec, Retries};
use crate::messages::{PluginExited, Route, Subscribe, Unsubscribe};
use crate::pack::PackPool;
use crate::plugin::PluginError;
use crate::stats::{RunnerStats, StatsTable};

/// What every runner gets from the pipeline.
#[derive(Clone)]
pub struct Env {
    /// `[hekad]` settings.
    pub globals: Arc<Globals>,
    /// Factories, for restarts and per-stream templates.
    pub catalogue: Arc<Catalogue>,
    /// Every plugin spec by name (splitter/decoder/encoder templates).
    pub specs: Arc<Vec<PluginSpec>>,
    /// Statistics table.
    pub stats: StatsTable,
    /// The router.
    pub router: Recipient<Route>,
    /// The router's control side (adding a destination).
    pub subscribe: Recipient<Subscribe>,
    /// The router's control side (retiring a destination).
    pub unsubscribe: Recipient<Unsubscribe>,
    /// The input pack pool.
    pub input_pool: PackPool,
    /// The inject pack pool.
    pub inject_pool: PackPool,
    /// Told when a plugin gives up.
    pub exits: Recipient<PluginExited>,
    /// Loads, unloads and replaces filters (offered to filters).
    pub control: crate::control::Control,
    /// When the ordered shutdown began (unset while running).
    pub stopping: Arc<std::sync::OnceLock<std::time::Instant>>,
    /// hekad's pid, stamped on generated messages.
    pub pid: i32,
    /// Threads decoding parts of streams' reads (`maxprocs > 1`).
    pub decode_pool: Option<crate::runner::decode::DecodePool>,
    /// Gathers and routes `heka.all-report` (offered to outputs).
    pub reporter: crate::report::Reporter,
}

impl Env {
    /// True once shutdown began more than `shutdown_timeout` ago: runners
    /// stop retrying then (see `Globals::shutdown_timeout`).
    pub fn past_shutdown_timeout(&self) -> bool {
        self.stopping
            .get()
            .is_some_and(|t| t.elapsed() > self.globals.shutdown_timeout)
    }

    /// The template spec named `name` (a splitter, decoder or encoder).
    pub fn spec(&self, name: &str) -> Option<&PluginSpec> {
        self.specs.iter().rev().find(|s| s.name == name)
    }
}

/// Identity of a runner, for logs, reports and exit notices.
#[derive(Clone)]
pub struct Identity {
    /// Instance name.
    pub name: Arc<str>,
    /// Plugin type.
    pub type_name: Arc<str>,
    /// Its statistics.
    pub stats: Arc<RunnerStats>,
}

impl Identity {
    /// Counts a failure and returns the back-off before the rebuild, or
    /// `None` when the plugin's retries are spent.
    pub(crate) fn next_restart(
        &self,
        policy: &mut RestartPolicy,
        kind: &str,
        error: &str,
    ) -> Option<Duration> {
        let delay = policy.next_delay()?;
        RunnerStats::add(&self.stats.restarts, 1);
        tracing::error!(plugin = %self.name, error = %error, delay_ms = delay.as_millis() as u64, "{kind} failed; restarting.");
        Some(delay)
    }

    /// The plugin gave up: a `can_exit` filter or output leaves the router,
    /// and the supervisor decides (remove it, or stop hekad with status 1).
    /// Control messages use `do_send`: they must not be lost to a full
    /// mailbox, and there is at most one per runner.
    pub(crate) fn exit(&self, env: &Env, spec: &PluginSpec, kind: &str, error: String) {
        let can_exit = spec.can_exit();
        tracing::error!(plugin = %self.name, error = %error, "{kind} stopped: retries exhausted.");
        if can_exit && matches!(spec.category, Category::Filter | Category::Output) {
            env.unsubscribe.do_send(Unsubscribe(Arc::clone(&self.name)));
        }
        env.exits.do_send(PluginExited {
            name: Arc::clone(&self.name),
            type_name: Arc::clone(&self.type_name),
            can_exit,
            error,
        });
    }
}

/// Heka's `retries` back-off: doubling delay from `delay` up to `max_delay`,
/// plus 0..`max_jitter`, for at most `max_retries` attempts (-1 = forever).
#[derive(Debug, Clone)]
pub struct RestartPolicy {
    retries: Retries,
    attempts: i64,
    next: Duration,
}

impl RestartPolicy {
    /// A fresh policy.
    pub fn new(retries: Retries) -> Self {
        RestartPolicy {
            retries,
            attempts: 0,
            next: retries.delay,
        }
    }

    /// The wait before the next attempt, or `None` once retries are spent.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.retries.max_retries >= 0 && self.attempts >= self.retries.max_retries {
            return None;
        }
        self.attempts += 1;
        let base = self.next;
        self.next = (self.next * 2).min(self.retries.max_delay);
        let jitter_ns = self.retries.max_jitter.as_nanos() as u64;
        let jitter = if jitter_ns == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(fastrand::u64(0..=jitter_ns))
        };
        Some(base.min(self.retries.max_delay) + jitter)
    }

    /// A clean run resets the counter (Heka resets after a successful run).
    pub fn reset(&mut self) {
        self.attempts = 0;
        self.next = self.retries.delay;
    }
}

/// Runs a synchronous plugin call, turning a panic into a `Fatal` error.
pub fn guarded<T>(call: impl FnOnce() -> Result<T, PluginError>) -> Result<T, PluginError> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|panic| Err(panic_error(panic)))
}

/// `packs` are dropped without being handled (a plugin gave up on them):
/// their producers must not count them as handled, so a disk queue keeps
/// them, and a journal stays before them, for the next start.
pub(crate) fn unhandled(packs: &[crate::pack::PackRef]) {
    for ack in packs.iter().filter_map(|p| p.ack()) {
        ack.fail();
    }
}

/// The `Fatal` error describing a caught panic.
pub fn panic_error(panic: Box<dyn Any + Send>) -> PluginError {
    let text = if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    };
    PluginError::fatal(format!("panicked: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_stop_after_max_retries() {
        let mut policy = RestartPolicy::new(Retries {
            delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            max_jitter: Duration::ZERO,
            max_retries: 4,
        });
        let delays: Vec<_> = std::iter::from_fn(|| policy.next_delay()).collect();
        assert_eq!(delays, [100, 200, 300, 300].map(Duration::from_millis));
        policy.reset();
        assert_eq!(policy.next_delay(), Some(Duration::from_millis(100)));
    }

    #[test]
    fn zero_retries_never_restart_and_jitter_is_bounded() {
        let mut never = RestartPolicy::new(Retries {
            max_retries: 0,
            ..Retries::default()
        });
        assert_eq!(never.next_delay(), None);
        let mut forever = RestartPolicy::new(Retries::default());
        for _ in 0..100 {
            let d = forever.next_delay().expect("-1 retries forever");
            assert!(d <= Duration::from_millis(30_500), "{d:?}");
        }
    }

    #[test]
    fn panics_become_fatal_errors() {
        let err = guarded::<()>(|| panic!("boom {}", 7)).unwrap_err();
        assert_eq!(err, PluginError::fatal("panicked: boom 7"));
    }
}
