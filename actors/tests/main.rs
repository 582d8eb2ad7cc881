//! heka-actors integration tests.

mod config;
mod dynamic;
mod pipeline;
mod queue;
mod queue_start;
mod support;
