//! heka-actors integration tests.

mod config;
