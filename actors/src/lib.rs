//! heka-actors: Heka's pipeline runtime on actix.
#![deny(rust_2018_idioms)]

pub mod catalogue;
pub mod config;
pub mod messages;
pub mod pack;
pub mod plugin;
pub mod runner;
pub mod stats;
