//! Heka's TOML configuration: `[hekad]` globals and plugin tables, loaded
//! from a file or a directory of `*.toml` files (HEKA-SPEC §3).
//!
//! Flow: [`Config::load`] reads the files (`load.rs`), substitutes
//! `%ENV[NAME]` (`env.rs`), parses TOML with positions, reads `[hekad]`
//! (`globals.rs`) and each plugin table (`plugin.rs`) into the shapes of
//! `spec.rs`. Later, each plugin factory reads its own options with
//! [`PluginSpec::options`] (`options.rs`). Every error names its file, line,
//! section and key (`error.rs`).

mod duration;
mod env;
mod error;
mod globals;
mod load;
mod options;
mod plugin;
mod spec;
mod value;

pub use duration::parse_duration;
pub use env::{Expanded, expand_env, process_env};
pub use error::{ConfigError, ConfigErrors, ErrorKind};
pub use globals::{HEKAD, os_hostname};
pub use load::{Config, DEFAULT_INSTANCES};
pub use spec::{
    Buffering, Category, CommonKeys, DEFAULT_MAX_FILE_SIZE, FullAction, Globals, Location,
    PluginSpec, Retries, SANDBOX_TYPES,
};

/// The TOML keys Heka consumes from every plugin table (HEKA-SPEC §3.3).
pub mod keys {
    pub use super::plugin::{
        BUFFERING, CAN_EXIT, DECODER, DELIVER_INCOMPLETE_FINAL, ENCODER, KEEP_TRUNCATED,
        LOG_DECODE_FAILURES, MESSAGE_MATCHER, MESSAGE_SIGNER, MIN_BUFFER_SIZE, RETRIES,
        SEND_DECODE_FAILURES, SPLITTER, SYNCHRONOUS_DECODE, TICKER_INTERVAL, TYPE, USE_BUFFERING,
        USE_FRAMING, USE_MESSAGE_BYTES,
    };
}
