//! heka-actors integration tests.

mod pipeline;
mod support;
