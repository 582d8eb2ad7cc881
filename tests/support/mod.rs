//! Test support: an independent producer of Heka records, helpers to run
//! the tool binaries as real child processes, and a TCP receiver for the
//! tools that send.

pub mod collector;
pub mod daemon;
pub mod http_server;
pub mod producer;
pub mod receiver;

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs heka-cat with `args` and returns what it did.
pub fn heka_cat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heka-cat"))
        .args(args)
        .output()
        .expect("heka-cat runs")
}

/// A command for heka-inject, to add arguments to.
pub fn heka_inject() -> Command {
    Command::new(env!("CARGO_BIN_EXE_heka-inject"))
}

/// A command for heka-flood, to add arguments to.
pub fn heka_flood() -> Command {
    Command::new(env!("CARGO_BIN_EXE_heka-flood"))
}

/// Text of a captured stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A file path inside `dir`, as a string for command lines.
pub fn path_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}
