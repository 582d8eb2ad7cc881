//! hekad's built-in plugins, one Heka plugin family per file. Each plugin is
//! a plain struct named exactly like its Heka `type`, with a `<Type>Config`
//! read from the section's own options and a `build` factory the catalogue
//! calls; the runners in heka-actors own them and call them inline.

use heka_actors::config::PluginSpec;
use heka_actors::plugin::BuildError;
use serde::de::DeserializeOwned;

pub mod carbon;
pub mod counter;
pub mod dashboard;
pub mod elasticsearch;
pub mod file;
pub mod http;
pub mod listen;
pub mod log;
pub mod logstreamer;
pub mod message_fields;
pub mod multi_decoder;
pub mod payload;
pub mod payload_regex;
pub mod process;
pub mod protobuf;
pub mod regex_splitters;
pub mod rst;
pub mod sandbox;
pub mod sandbox_manager;
pub mod splitters;
pub mod statsd;
pub mod tcp;
pub mod udp;

/// Deserialises a plugin's own options (common keys already removed) into
/// its config struct; unknown keys and bad values are errors naming the
/// file, line, section and key.
pub(crate) fn options<T: DeserializeOwned>(spec: &PluginSpec) -> Result<T, BuildError> {
    Ok(spec.options()?)
}
