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
//! - [`plugins`]: the pipeline plugins (filters and outputs so far) that
//!   the `heka-actors` runners own and call.

#![deny(rust_2018_idioms)]

pub mod cat;
pub mod flags;
pub mod plugins;
pub mod render;

pub use heka_grammar as grammar;
pub use heka_proto as proto;
