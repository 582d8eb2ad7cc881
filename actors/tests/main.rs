//! heka-actors integration tests.

mod config;
mod config_props;
mod dynamic;
mod failure;
mod output_cx;
mod pipeline;
mod pipelined;
mod queue;
mod queue_start;
mod support;
