//! Lua sandboxes: the Lua 5.1 VMs that run Heka's SandboxFilter,
//! SandboxDecoder, SandboxEncoder, SandboxInput and SandboxOutput scripts.
//!
//! - [`modules`]: the native modules that sandbox scripts `require`
//!   (`cjson`, `circular_buffer`), written in Rust on top of mlua.

pub mod modules;
