//! The pipeline plugins hekad builds from its catalogue. Each file is one
//! Heka plugin family; its `build` function turns a [`PluginSpec`] (the
//! plugin's own TOML options, common keys already removed) into the boxed
//! plugin a `heka-actors` runner owns and calls.

use heka_actors::config::PluginSpec;
use heka_actors::plugin::BuildError;

pub mod counter;
pub mod file;
pub mod log;
pub mod tcp;

/// Deserialises a plugin's own options into its `<Type>Config`, turning
/// unknown keys and wrong types into a [`BuildError`] naming the section.
pub(crate) fn options<T: serde::de::DeserializeOwned>(spec: &PluginSpec) -> Result<T, BuildError> {
    toml::Value::Table(spec.options.clone())
        .try_into()
        .map_err(|err| BuildError::invalid(spec, err))
}
