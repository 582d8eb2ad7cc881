//! Lua sandboxes (HEKA-SPEC §5): the Lua 5.1 VMs that run Heka's
//! SandboxFilter, SandboxDecoder, SandboxEncoder, SandboxInput and
//! SandboxOutput scripts.
//!
//! - [`modules`]: the native modules that sandbox scripts `require`
//!   (`cjson`, `circular_buffer`), written in Rust on top of mlua.
//! - [`preserve`]: Heka's `preserve_data`, the script's globals written to a
//!   Lua data file at shutdown and read back after the next start.

pub mod modules;
pub mod preserve;
