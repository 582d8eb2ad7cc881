//! The Lua sandboxes (Heka spec §5): the pieces that run scripts for
//! SandboxInput, SandboxDecoder, SandboxFilter, SandboxEncoder and
//! SandboxOutput.
//!
//! - [`preserve`]: Heka's `preserve_data`, the script's globals written to a
//!   Lua data file at shutdown and read back after the next start.

pub mod preserve;
