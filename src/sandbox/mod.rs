//! The Lua sandbox behind Heka's five Sandbox plugin types
//! (HEKA-SPEC §5): a Lua 5.1 state (mlua, vendored, never LuaJIT) with
//! Heka's environment, limits and API.
//!
//! - [`config`]: the common sandbox keys and `[name.config]`.
//! - [`env`](mod@env): the library set, removals and `require` (with the native
//!   module registry other modules plug into).
//! - [`limits`]: memory, instruction, output and wall-clock limits, and why
//!   `pcall` and coroutines cannot escape them.
//! - [`api`]: `read_config`, `add_to_payload`, `inject_payload`,
//!   `inject_message`, `decode_message`, and the slot through which they
//!   reach the call in progress.
//! - `read`: `read_message`, a raw Lua C function (the per-message call).
//! - `drive`: the raw C driver that calls `process_message` and
//!   `timer_event`.
//! - [`write`](mod@write): `write_message` (decoders, encoders) and `read_next_field`.
//! - `patterns`: Lua's pattern functions (`string.find`, `match`, `gmatch`,
//!   `gsub`) in Rust, so the wall-clock budget holds inside them.
//! - [`usage`]: the report figures (Memory, MaxMemory, MaxInstructions,
//!   MaxOutput).
//! - `table`: messages to and from Lua tables.
//! - [`vm`]: [`Sandbox`], the loaded script and its entry points.
//! - [`modules`]: the native modules that sandbox scripts `require`
//!   (`cjson`, `circular_buffer`, written in Rust on top of mlua; `lpeg`
//!   and `re`, Debian's LPeg, with the `lpeg` feature).
//! - [`preserve`]: Heka's `preserve_data`, the script's globals written to a
//!   Lua data file at shutdown and read back after the next start.

pub mod api;
pub mod config;
mod drive;
pub mod env;
pub mod limits;
pub mod modules;
mod patterns;
pub mod preserve;
mod read;
mod table;
pub mod usage;
pub mod vm;
pub mod write;

pub use api::{Call, Injection, Sink};
pub use config::SandboxConfig;
pub use env::{NativeOpen, Template, register_native};
pub use limits::{Abort, Limits};
pub use usage::Usage;
pub use vm::{Sandbox, SandboxError, SandboxSpec, Stopper};
pub use write::Edit;

#[cfg(test)]
mod tests;
