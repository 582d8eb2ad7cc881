//! Heka's TOML configuration: `[hekad]` globals and plugin tables, loaded
//! from a file or a directory of `*.toml` files (HEKA-SPEC §3).

mod spec;

pub use spec::{Category, CommonKeys, Globals, Location, PluginSpec, Retries};
