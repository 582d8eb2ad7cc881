//! LogstreamerInput (Heka's `plugins/logstreamer`): tails log files,
//! follows rotated sequences and many streams at once, and journals each
//! stream's position so a restart resumes where the pipeline stopped
//! accepting records.
//!
//! Flow: [`config`] checks the options into [`Settings`]; [`pattern`] tells
//! from a file name whether it belongs, to which stream, and where in that
//! stream's order; [`scan`] applies it to `log_directory`; per stream,
//! [`tail`] drives a [`follower::Follower`] (the position among files:
//! rotation, truncation, deletion) into a StreamSink and advances the
//! [`journal`] after each accepted flush; [`notice`] logs and counts what a
//! follower saw; [`input`] ties them into the `Input` hekad runs.
//! heka-logstreamer (`crate::logstreamer_tool`) reuses config and scan.

pub mod config;
pub mod follower;
pub mod input;
pub mod journal;
pub mod notice;
pub mod pattern;
pub mod scan;
pub mod tail;

pub use config::{LogstreamerInputConfig, Settings};
pub use input::LogstreamerInput;
