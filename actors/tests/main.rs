//! heka-actors integration tests.

mod config;
mod pipeline;
mod support;
