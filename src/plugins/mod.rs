//! hekad's built-in plugins, one Heka plugin family per file. Each plugin is
//! a plain struct named exactly like its Heka `type`, with a `<Type>Config`
//! read from the section's own options and a `build` factory the catalogue
//! calls; the runners in heka-actors own them and call them inline.

use heka_actors::config::PluginSpec;
use heka_actors::plugin::BuildError;
use serde::de::DeserializeOwned;

pub mod payload;
pub mod protobuf;
pub mod rst;
pub mod splitters;

/// Deserialises a plugin's own options (common keys already removed) into
/// its config struct; unknown keys are errors naming the section. Kept in
/// one place so a version that also names the offending line can replace it.
pub(crate) fn options<T: DeserializeOwned>(spec: &PluginSpec) -> Result<T, BuildError> {
    spec.options
        .clone()
        .try_into::<T>()
        .map_err(|err| BuildError::invalid(spec, err.to_string().trim_end().replace('\n', " ")))
}
