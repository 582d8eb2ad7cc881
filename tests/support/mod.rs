//! Test support: an independent producer of Heka records and helpers to run
//! the tool binaries as real child processes.

pub mod producer;

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs heka-cat with `args` and returns what it did.
pub fn heka_cat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heka-cat"))
        .args(args)
        .output()
        .expect("heka-cat runs")
}

/// Text of a captured stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A file path inside `dir`, as a string for command lines.
pub fn path_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}
