//! heka-actors: Heka's pipeline runtime on actix.
#![deny(rust_2018_idioms)]

pub mod config;
pub mod pack;
