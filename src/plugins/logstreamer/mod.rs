//! LogstreamerInput (Heka's `plugins/logstreamer`): tails log files,
//! follows rotated sequences and many streams at once, and journals each
//! stream's position so a restart resumes where the pipeline stopped
//! accepting records.
//!
//! Flow: [`config`] checks the options into [`Settings`]; [`pattern`] tells
//! from a file name whether it belongs, to which stream, and where in that
//! stream's order; [`scan`] applies it to `log_directory`; the [`journal`]
//! keeps each stream's accepted position.

pub mod config;
pub mod journal;
pub mod pattern;
pub mod scan;

pub use config::{LogstreamerInputConfig, Settings};
