//! hekad: Mozilla Heka rebuilt in Rust on actix actors.
//!
//! This package holds the daemon's plugins (with the next issues) and the
//! command-line tools; the wire format lives in `heka-proto` and the message
//! matcher in `heka-grammar`, both re-exported here.
//!
//! # Layout
//! - [`flags`]: Go-style command-line flags shared by every tool, so Heka
//!   users' scripts keep working.
//! - [`render`]: messages as text and JSON for people and scripts.
//! - [`cat`]: heka-cat, the reader of framed record files.
//! - [`inject`]: heka-inject, which sends one message to a TcpInput.
//! - [`flood`]: heka-flood, the load generator (config file or flags).
//! - [`host`]: hostname, pid, UUIDs and the clock, as messages carry them.
//! - [`duration`]: Go's duration syntax (`"300ms"`, `"1m30s"`).

#![deny(rust_2018_idioms)]

pub mod cat;
pub mod duration;
pub mod flags;
pub mod flood;
pub mod host;
pub mod inject;
pub mod render;

pub use heka_grammar as grammar;
pub use heka_proto as proto;
