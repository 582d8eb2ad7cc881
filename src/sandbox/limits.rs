//! The resource limits of one sandbox and how they hold (HEKA-SPEC §5.4).
//!
//! - Memory: `Lua::set_memory_limit`; an allocation past the limit fails
//!   with "not enough memory" and the state stays usable.
//! - Instructions: a *global* count hook (so coroutine threads, which copy
//!   the hook when created, are covered too) fires every [`HOOK_STEP`]
//!   instructions and adds them to the call's count. Once the budget is
//!   spent the call is *doomed*: the hook is re-armed to fire on every
//!   instruction and raises the same error each time, so `pcall`, `xpcall`
//!   and `coroutine.resume` cannot swallow it — the first Lua instruction
//!   after the catching call raises it again, up to the top.
//! - Output (`output_limit`) and injection failures doom the call the same
//!   way, from the API functions.
//! - Wall clock: the hook also checks a per-call deadline
//!   ([`DEFAULT_CALL_TIME`]). Hooks never run inside a C function, so the
//!   one family of C functions whose running time a script controls beyond
//!   what memory bounds, the pattern functions (`string.find`, `match`,
//!   `gmatch`, `gsub`: backtracking is exponential in the pattern), are
//!   replaced by a Rust matcher that calls `check` as it works
//!   (`patterns.rs`).
//! - Stop: a flag another thread sets ([`Sandbox::stopper`]) ends the
//!   running call with "shutting down", as Heka stopped a SandboxInput's
//!   loop.
//!
//! [`Sandbox::stopper`]: super::Sandbox::stopper

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use mlua::{HookTriggers, Lua, VmState};

use super::usage::Usage;

/// Instructions between two hook calls.
pub const HOOK_STEP: u32 = 1000;
/// Wall-clock budget of one call: about 10× what a script at the default
/// instruction limit needs on a slow machine.
pub const DEFAULT_CALL_TIME: Duration = Duration::from_secs(5);

/// The limits of one sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Bytes of Lua memory (0 = unlimited).
    pub memory: usize,
    /// VM instructions per call (0 = unlimited).
    pub instructions: u64,
    /// Bytes of the output buffer and of each injected message.
    pub output: usize,
    /// Wall-clock time per call, `None` = unlimited.
    pub call_time: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: super::config::DEFAULT_MEMORY_LIMIT,
            instructions: super::config::DEFAULT_INSTRUCTION_LIMIT,
            output: super::config::DEFAULT_OUTPUT_LIMIT,
            call_time: Some(DEFAULT_CALL_TIME),
        }
    }
}

/// Why a call was stopped by the sandbox rather than by the script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Abort {
    /// The instruction budget was spent.
    #[error("instruction_limit exceeded")]
    Instructions,
    /// The output buffer or an injected message outgrew `output_limit`.
    #[error("output_limit exceeded")]
    Output,
    /// The call ran longer than its wall-clock budget.
    #[error("call time limit exceeded ({0:?})")]
    Time(Duration),
    /// An injection was refused (limit, loop, self-match, bad message).
    #[error("{0}")]
    Inject(String),
    /// The plugin is stopping (a SandboxInput's loop at shutdown).
    #[error("shutting down")]
    Stopped,
}

/// Per-call accounting, shared by the VM (which starts and checks each
/// call without a lookup), the hook (which captures it) and the API
/// functions (which find it in the state's app data). Atomics only because
/// mlua wants hooks `Send`: a state is used by one thread at a time.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    memory: usize,
    call_time: Option<Duration>,
    step: AtomicU32,
    used: AtomicU64,
    /// When the call started ([`coarse_now_ns`]). Read at the start of
    /// every call (not lazily at the first hook: time spent in a C function
    /// before it, such as an LPeg match, must count).
    started: AtomicU64,
    doomed: AtomicBool,
    doom: Mutex<Option<Abort>>,
    usage: Arc<Usage>,
    stop: Arc<AtomicBool>,
}

impl Budget {
    fn new(limits: &Limits, usage: Arc<Usage>, stop: Arc<AtomicBool>) -> Budget {
        Budget {
            limit: limits.instructions,
            memory: limits.memory,
            call_time: limits.call_time,
            step: AtomicU32::new(normal_step(limits.instructions)),
            used: AtomicU64::new(0),
            started: AtomicU64::new(0),
            doomed: AtomicBool::new(false),
            doom: Mutex::new(None),
            usage,
            stop,
        }
    }

    fn reason(&self) -> Option<Abort> {
        if !self.doomed.load(Ordering::Relaxed) {
            return None;
        }
        self.doom.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_doom(&self, why: Abort) {
        let mut doom = self.doom.lock().unwrap_or_else(|e| e.into_inner());
        doom.get_or_insert(why);
        self.doomed.store(true, Ordering::Relaxed);
    }

    /// Why the call must end now, apart from its instruction count.
    fn overdue(&self) -> Option<Abort> {
        if self.stop.load(Ordering::Relaxed) {
            return Some(Abort::Stopped);
        }
        let limit = self.call_time?;
        let now = coarse_now_ns();
        let started = self.started.load(Ordering::Relaxed);
        (Duration::from_nanos(now.saturating_sub(started)) > limit).then_some(Abort::Time(limit))
    }

    /// Starts a call: a fresh instruction budget and clock; returns the
    /// hook rate to re-arm when a doomed call had raised it.
    pub(crate) fn begin(&self) -> Option<u32> {
        self.used.store(0, Ordering::Relaxed);
        if self.call_time.is_some() {
            self.started.store(coarse_now_ns(), Ordering::Relaxed);
        }
        if self.doomed.swap(false, Ordering::Relaxed) {
            *self.doom.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        let normal = normal_step(self.limit);
        (self.step.swap(normal, Ordering::Relaxed) != normal).then_some(normal)
    }

    /// Why the call that just ended was doomed, if it was.
    pub(crate) fn doom(&self) -> Option<Abort> {
        self.reason()
    }
}

/// A monotonic clock in ns with a few milliseconds' resolution, plenty for
/// budgets of seconds: read at every call, it costs a quarter of
/// `Instant::now()` (about 5 ns against 23 here).
#[allow(unsafe_code)]
fn coarse_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

fn normal_step(limit: u64) -> u32 {
    if limit == 0 {
        HOOK_STEP
    } else {
        limit.min(u64::from(HOOK_STEP)) as u32
    }
}

fn budget(lua: &Lua) -> Option<Arc<Budget>> {
    lua.app_data_ref::<Arc<Budget>>().map(|b| Arc::clone(&b))
}

/// Installs the limits on a fresh state; `usage` receives the hook's
/// samples and `stop` ends the running call when set.
pub(crate) fn install(
    lua: &Lua,
    limits: &Limits,
    usage: Arc<Usage>,
    stop: Arc<AtomicBool>,
) -> mlua::Result<Arc<Budget>> {
    let budget = Arc::new(Budget::new(limits, usage, stop));
    lua.set_app_data(Arc::clone(&budget));
    arm(lua, &budget, budget.step.load(Ordering::Relaxed))?;
    if limits.memory > 0 {
        lua.set_memory_limit(limits.memory)?;
    }
    Ok(budget)
}

fn arm(lua: &Lua, budget: &Arc<Budget>, step: u32) -> mlua::Result<()> {
    let b = Arc::clone(budget);
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(step),
        move |lua, _| hook(lua, &b),
    )
}

/// Runs `f` without the instruction and time limits, as Heka lifted them to
/// save and restore `preserve_data` (a large state may take more than one
/// call's budget); the memory limit stays.
pub(crate) fn unlimited<T>(lua: &Lua, f: impl FnOnce() -> T) -> mlua::Result<T> {
    lua.remove_global_hook();
    let out = f();
    if let Some(b) = budget(lua) {
        arm(lua, &b, b.step.load(Ordering::Relaxed))?;
    }
    Ok(out)
}

/// Starts a call (see [`Budget::begin`]).
pub(crate) fn begin(lua: &Lua, budget: &Arc<Budget>) -> mlua::Result<()> {
    match budget.begin() {
        Some(step) => arm(lua, budget, step),
        None => Ok(()),
    }
}

/// The state's memory limit in bytes (0 = none), for Rust functions that
/// build a result outside Lua's allocator before handing it over.
pub(crate) fn memory_limit(lua: &Lua) -> usize {
    budget(lua).map_or(0, |b| b.memory)
}

/// For C functions doing long work the hook cannot interrupt: an error
/// (which dooms the call) once the call is past its deadline or stopped.
pub(crate) fn check(lua: &Lua) -> mlua::Result<()> {
    let Some(b) = budget(lua) else {
        return Ok(());
    };
    match b.reason().or_else(|| b.overdue()) {
        Some(why) => Err(abort(lua, why)),
        None => Ok(()),
    }
}

/// Dooms the current call (from an API function) and returns the Lua error
/// to raise; every later instruction of the call raises it again.
pub(crate) fn abort(lua: &Lua, why: Abort) -> mlua::Error {
    let text = why.to_string();
    if let Some(b) = budget(lua) {
        b.set_doom(why);
        b.step.store(1, Ordering::Relaxed);
        if let Err(err) = arm(lua, &b, 1) {
            return err;
        }
    }
    mlua::Error::RuntimeError(text)
}

fn hook(lua: &Lua, b: &Budget) -> mlua::Result<VmState> {
    if !b.doomed.load(Ordering::Relaxed) {
        let used = b.used.load(Ordering::Relaxed) + u64::from(b.step.load(Ordering::Relaxed));
        b.used.store(used, Ordering::Relaxed);
        b.usage.instructions(used);
        b.usage.sample_memory(lua.used_memory());
        let why = if b.limit > 0 && used >= b.limit {
            Some(Abort::Instructions)
        } else {
            b.overdue()
        };
        if let Some(why) = why {
            b.set_doom(why);
        }
    }
    match b.reason() {
        Some(why) => Err(abort(lua, why)),
        None => Ok(VmState::Continue),
    }
}
