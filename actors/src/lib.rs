//! heka-actors: Heka's pipeline runtime on actix, embeddable in any actix
//! application.
//!
//! # Architecture
//!
//! **Build.** [`pipeline::check`] and [`Pipeline::start`] build every plugin
//! from its [`config::PluginSpec`] through a [`catalogue::Catalogue`] of
//! factories, compile every matcher and collect every error before anything
//! runs.
//!
//! **Wire.** One [`router::Router`] actor; one runner actor per input,
//! filter and output, each with a mailbox of `plugin_chansize` batches,
//! spread over `maxprocs` arbiters; a [`supervisor::PipelineSupervisor`]
//! holding their addresses. Filters and outputs subscribe to the router with
//! their compiled matcher.
//!
//! **Run.** Inputs read bytes into a [`runner::input::StreamSink`], which
//! splits, decodes, takes packs from the input [`pack::PackPool`] and hands
//! each batch to the router with `try_send`, parking on `send()` when the
//! router's mailbox is full. The router matches each pack and hands
//! every destination one batch with `try_send`, parking on a full mailbox
//! with its own paused. Filters inject through a separate pool; outputs
//! encode, frame and write one batch at a time. Back pressure is therefore
//! end to end: a stalled output stops the router, the inputs and, through
//! TCP, the senders. Plugin panics are caught and become restarts under the
//! plugin's `retries` table; shutdown drains inputs, router, filters, router,
//! outputs in that order. Reports (`heka.all-report`, `heka.memstat`) are
//! gathered from every runner's statistics by a [`report::Reporter`] and
//! routed like injected messages, on request: [`Pipeline::inject_report`],
//! or an output's [`plugin::OutputCx`] (DashboardOutput's ticker).
#![deny(rust_2018_idioms)]

pub mod ack;
pub mod build;
pub mod catalogue;
pub mod config;
pub mod control;
pub mod dynamic;
pub mod memstat;
pub mod messages;
pub mod pack;
pub mod pipeline;
pub mod plugin;
pub mod queue;
pub mod report;
pub mod router;
pub mod runner;
pub mod stats;
pub mod supervisor;

pub use catalogue::{Catalogue, Factory, PluginEntry};
pub use config::{Globals, PluginSpec};
pub use pack::{Pack, PackRef};
pub use pipeline::Pipeline;
pub use plugin::{BuildError, Decoder, Encoder, Filter, Input, Output, PluginError, Splitter};
