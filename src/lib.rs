//! hekad: Mozilla Heka rebuilt in Rust on actix actors.
//!
//! This package holds the daemon, its plugins and the command-line tools;
//! the runtime (router, runners, supervisor, config) lives in `heka-actors`,
//! the wire format in `heka-proto` and the message matcher in
//! `heka-grammar`, all re-exported here.
//!
//! # Layout
//! - [`daemon`]: hekad's command line, config loading, signals.
//! - [`catalogue`]: the one list of built-in plugin types.
//! - [`plugins`]: the built-in plugins, one Heka plugin family per file.
//! - [`flags`]: Go-style command-line flags shared by every tool, so Heka
//!   users' scripts keep working.
//! - [`sandbox`]: the Lua sandboxes and their native modules.
//! - [`render`]: messages as text and JSON for people and scripts.
//! - [`strftime`]: C-style time formatting for plugin options such as
//!   PayloadEncoder's `ts_format`.
//! - [`cat`]: heka-cat, the reader of framed record files.
//! - [`inject`]: heka-inject, which sends one message to a TcpInput.
//! - [`flood`]: heka-flood, the load generator (config file or flags).
//! - [`logstreamer_tool`]: heka-logstreamer, which prints the streams and
//!   files a LogstreamerInput config would read.
//! - [`queue_tool`]: `hekad queue inspect|verify DIR`, offline views of a
//!   buffered plugin's disk queue.
//! - [`host`]: hostname, pid, UUIDs and the clock, as messages carry them.

#![deny(rust_2018_idioms)]

pub mod cat;
pub mod catalogue;
pub mod daemon;
pub mod flags;
pub mod flood;
pub mod golayout;
pub mod host;
pub mod inject;
pub mod logstreamer_tool;
pub mod plugins;
pub mod queue_tool;
pub mod render;
pub mod sandbox;
pub mod sbmgr;
pub mod strftime;

pub use heka_actors as actors;
pub use heka_grammar as grammar;
pub use heka_proto as proto;
