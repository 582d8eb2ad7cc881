//! heka-actors integration tests.

mod config;
mod dynamic;
mod failure;
mod pipeline;
mod support;
