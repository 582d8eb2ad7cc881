//! What a sandbox has used, for Heka's report figures (HEKA-SPEC §5.4:
//! Memory, MaxMemory, MaxInstructions, MaxOutput). The numbers live in
//! atomics behind an `Arc`, so a SandboxInput's runner can read them while
//! the script runs on its own thread; only the sandbox's thread writes.
//!
//! Where each figure is sampled (nothing is added to `read_message`):
//! - memory: by the instruction hook (every `HOOK_STEP` instructions) and
//!   whenever a plugin takes a report ([`Sandbox::usage`]); mlua exposes no
//!   allocator peak, so MaxMemory is the highest of those samples;
//! - instructions: by the hook, so a call is counted in whole hook steps
//!   (up to 1000 instructions) and one shorter than a step reads 0;
//! - output: by `add_to_payload`/`inject_payload` (the buffer's size) and
//!   `inject_message` (the message's size).
//!
//! [`Sandbox::usage`]: super::Sandbox::usage

use std::sync::atomic::{AtomicU64, Ordering};

/// Resource figures of one sandbox, shared with whoever reports them.
#[derive(Debug, Default)]
pub struct Usage {
    memory: AtomicU64,
    max_memory: AtomicU64,
    max_instructions: AtomicU64,
    max_output: AtomicU64,
}

fn raise(cell: &AtomicU64, value: u64) {
    // One writer (the sandbox's thread): a load and a store suffice.
    if value > cell.load(Ordering::Relaxed) {
        cell.store(value, Ordering::Relaxed);
    }
}

impl Usage {
    /// Bytes of Lua memory at the last sample.
    pub fn memory(&self) -> u64 {
        self.memory.load(Ordering::Relaxed)
    }

    /// The most Lua memory sampled.
    pub fn max_memory(&self) -> u64 {
        self.max_memory.load(Ordering::Relaxed)
    }

    /// The most instructions one call used (in hook steps).
    pub fn max_instructions(&self) -> u64 {
        self.max_instructions.load(Ordering::Relaxed)
    }

    /// The largest output buffer or injected message, in bytes.
    pub fn max_output(&self) -> u64 {
        self.max_output.load(Ordering::Relaxed)
    }

    pub(crate) fn sample_memory(&self, bytes: usize) {
        self.memory.store(bytes as u64, Ordering::Relaxed);
        raise(&self.max_memory, bytes as u64);
    }

    pub(crate) fn instructions(&self, used: u64) {
        raise(&self.max_instructions, used);
    }

    pub(crate) fn output(&self, bytes: usize) {
        raise(&self.max_output, bytes as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxima_only_grow_and_memory_follows_the_last_sample() {
        let u = Usage::default();
        u.sample_memory(100);
        u.sample_memory(40);
        u.instructions(3000);
        u.instructions(1000);
        u.output(10);
        u.output(7);
        assert_eq!(
            (
                u.memory(),
                u.max_memory(),
                u.max_instructions(),
                u.max_output()
            ),
            (40, 100, 3000, 10)
        );
    }
}
