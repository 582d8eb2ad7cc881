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

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// Per-call accounting, kept in the state's app data so the hook (a plain
/// `fn`) and the API functions share it.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    memory: usize,
    call_time: Option<Duration>,
    step: Cell<u32>,
    used: Cell<u64>,
    started: Cell<Instant>,
    doom: RefCell<Option<Abort>>,
    usage: Arc<Usage>,
    stop: Arc<AtomicBool>,
}

impl Budget {
    fn new(limits: &Limits, usage: Arc<Usage>, stop: Arc<AtomicBool>) -> Budget {
        Budget {
            limit: limits.instructions,
            memory: limits.memory,
            call_time: limits.call_time,
            step: Cell::new(normal_step(limits.instructions)),
            used: Cell::new(0),
            started: Cell::new(Instant::now()),
            doom: RefCell::new(None),
            usage,
            stop,
        }
    }

    /// Why the call must end now, apart from its instruction count.
    fn overdue(&self) -> Option<Abort> {
        if self.stop.load(Ordering::Relaxed) {
            return Some(Abort::Stopped);
        }
        self.call_time
            .filter(|t| self.started.get().elapsed() > *t)
            .map(Abort::Time)
    }
}

fn normal_step(limit: u64) -> u32 {
    if limit == 0 {
        HOOK_STEP
    } else {
        limit.min(u64::from(HOOK_STEP)) as u32
    }
}

/// Installs the limits on a fresh state; `usage` receives the hook's
/// samples and `stop` ends the running call when set.
pub(crate) fn install(
    lua: &Lua,
    limits: &Limits,
    usage: Arc<Usage>,
    stop: Arc<AtomicBool>,
) -> mlua::Result<()> {
    let budget = Budget::new(limits, usage, stop);
    let step = budget.step.get();
    lua.set_app_data(budget);
    arm(lua, step)?;
    if limits.memory > 0 {
        lua.set_memory_limit(limits.memory)?;
    }
    Ok(())
}

fn arm(lua: &Lua, step: u32) -> mlua::Result<()> {
    lua.set_global_hook(HookTriggers::new().every_nth_instruction(step), hook)
}

/// Runs `f` without the instruction and time limits, as Heka lifted them to
/// save and restore `preserve_data` (a large state may take more than one
/// call's budget); the memory limit stays.
pub(crate) fn unlimited<T>(lua: &Lua, f: impl FnOnce() -> T) -> mlua::Result<T> {
    lua.remove_global_hook();
    let out = f();
    let step = lua
        .app_data_ref::<Budget>()
        .map_or(HOOK_STEP, |b| b.step.get());
    arm(lua, step)?;
    Ok(out)
}

/// Starts a call: a fresh instruction budget and deadline, normal hook rate.
pub(crate) fn begin(lua: &Lua) -> mlua::Result<()> {
    let rearm = {
        let Some(b) = lua.app_data_ref::<Budget>() else {
            return Ok(());
        };
        b.used.set(0);
        b.started.set(Instant::now());
        b.doom.replace(None);
        let normal = normal_step(b.limit);
        (b.step.get() != normal).then(|| {
            b.step.set(normal);
            normal
        })
    };
    match rearm {
        Some(step) => arm(lua, step),
        None => Ok(()),
    }
}

/// Why the current call is doomed, if it is.
pub(crate) fn doom(lua: &Lua) -> Option<Abort> {
    lua.app_data_ref::<Budget>()?.doom.borrow().clone()
}

/// The state's memory limit in bytes (0 = none), for Rust functions that
/// build a result outside Lua's allocator before handing it over.
pub(crate) fn memory_limit(lua: &Lua) -> usize {
    lua.app_data_ref::<Budget>().map_or(0, |b| b.memory)
}

/// For C functions doing long work the hook cannot interrupt: an error
/// (which dooms the call) once the call is past its deadline or stopped.
pub(crate) fn check(lua: &Lua) -> mlua::Result<()> {
    let why = {
        let Some(b) = lua.app_data_ref::<Budget>() else {
            return Ok(());
        };
        let doomed = b.doom.borrow().clone();
        doomed.or_else(|| b.overdue())
    };
    match why {
        Some(why) => Err(abort(lua, why)),
        None => Ok(()),
    }
}

/// Dooms the current call (from an API function) and returns the Lua error
/// to raise; every later instruction of the call raises it again.
pub(crate) fn abort(lua: &Lua, why: Abort) -> mlua::Error {
    let text = why.to_string();
    if let Some(b) = lua.app_data_ref::<Budget>() {
        b.doom.borrow_mut().get_or_insert(why);
        b.step.set(1);
    }
    if let Err(err) = arm(lua, 1) {
        return err;
    }
    mlua::Error::RuntimeError(text)
}

fn hook(lua: &Lua, _debug: &mlua::debug::Debug<'_>) -> mlua::Result<VmState> {
    let doomed = {
        let Some(b) = lua.app_data_ref::<Budget>() else {
            return Ok(VmState::Continue);
        };
        if b.doom.borrow().is_none() {
            let used = b.used.get() + u64::from(b.step.get());
            b.used.set(used);
            b.usage.instructions(used);
            b.usage.sample_memory(lua.used_memory());
            let why = if b.limit > 0 && used >= b.limit {
                Some(Abort::Instructions)
            } else {
                b.overdue()
            };
            if let Some(why) = why {
                *b.doom.borrow_mut() = Some(why);
            }
        }
        b.doom.borrow().clone()
    };
    match doomed {
        Some(why) => Err(abort(lua, why)),
        None => Ok(VmState::Continue),
    }
}
