//! Heka's statsd family: StatsdInput (a statsd server) and StatFilter
//! (stats made from messages) feed a StatAccumInput, found by name through
//! [`registry`]; the accumulator rolls the stats up every tick into one
//! `heka.statmetric` message of graphite lines, which CarbonOutput ships.
//!
//! ```text
//! statsd UDP ─► StatsdInput ─┐
//!                            ├─► bounded queue ─► StatAccumInput ─► router ─► CarbonOutput
//! router ─► StatFilter ──────┘
//! ```
//!
//! Layout: [`stat`] is the measurement and the line protocol, [`accum`] the
//! roll-up arithmetic, [`registry`] the queue between plugins, and one file
//! per plugin.

pub mod accum;
mod accum_input;
mod filter;
mod input;
pub mod registry;
pub mod stat;

pub use accum_input::{StatAccumInput, StatAccumInputConfig, Thresholds};
pub use filter::{MetricConfig, StatFilter, StatFilterConfig, Template};
pub use input::{StatsdInput, StatsdInputConfig};
