//! The plugin catalogue: which Rust factory builds each Heka plugin `type`.
//! hekad's built-in list lives in the root crate's `catalogue.rs`; an
//! embedding application starts from it and registers its own types.

use std::collections::BTreeMap;

use crate::config::{Category, Globals, PluginSpec};
use crate::plugin::{BuildError, BuildFn, Decoder, Encoder, Filter, Input, Output, Splitter};

/// A factory for one plugin kind.
#[derive(Clone, Copy)]
pub enum Factory {
    /// Builds an input.
    Input(BuildFn<dyn Input>),
    /// Builds a splitter.
    Splitter(BuildFn<dyn Splitter>),
    /// Builds a decoder.
    Decoder(BuildFn<dyn Decoder>),
    /// A decoder made of other decoders (MultiDecoder): its factory gets a
    /// way to build the decoders it names.
    MultiDecoder(MultiBuildFn),
    /// Builds a filter.
    Filter(BuildFn<dyn Filter>),
    /// Builds an encoder.
    Encoder(BuildFn<dyn Encoder>),
    /// Builds an output.
    Output(BuildFn<dyn Output>),
}

impl Factory {
    /// The category this factory builds.
    pub fn category(&self) -> Category {
        match self {
            Factory::Input(_) => Category::Input,
            Factory::Splitter(_) => Category::Splitter,
            Factory::Decoder(_) | Factory::MultiDecoder(_) => Category::Decoder,
            Factory::Filter(_) => Category::Filter,
            Factory::Encoder(_) => Category::Encoder,
            Factory::Output(_) => Category::Output,
        }
    }
}

/// One catalogue row: a Heka type name and its factory.
#[derive(Clone, Copy)]
pub struct PluginEntry {
    /// The TOML `type`, exactly as Heka spells it.
    pub type_name: &'static str,
    /// How to build it.
    pub factory: Factory,
}

/// Why an entry cannot join a catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    /// The type is already registered.
    #[error("plugin type `{0}` is already registered")]
    Duplicate(String),
    /// The type name's suffix does not match the factory kind.
    #[error("plugin type `{0}` must end in {1:?}'s suffix")]
    WrongSuffix(String, Category),
}

/// The registered plugin types.
#[derive(Clone, Default)]
pub struct Catalogue {
    entries: BTreeMap<String, Factory>,
}

impl Catalogue {
    /// A catalogue of `entries` (panics on a duplicate or mis-suffixed
    /// built-in entry: that is a programming error caught by tests).
    pub fn from_entries(entries: &[PluginEntry]) -> Catalogue {
        let mut cat = Catalogue::default();
        for entry in entries {
            if let Err(err) = cat.register(*entry) {
                panic!("built-in catalogue: {err}");
            }
        }
        cat
    }

    /// Adds a plugin type of the embedding application's own.
    pub fn register(&mut self, entry: PluginEntry) -> Result<(), CatalogueError> {
        if Category::of_type(entry.type_name) != Some(entry.factory.category()) {
            return Err(CatalogueError::WrongSuffix(
                entry.type_name.to_owned(),
                entry.factory.category(),
            ));
        }
        if self.entries.contains_key(entry.type_name) {
            return Err(CatalogueError::Duplicate(entry.type_name.to_owned()));
        }
        self.entries
            .insert(entry.type_name.to_owned(), entry.factory);
        Ok(())
    }

    /// The factory of a type.
    pub fn factory(&self, type_name: &str) -> Option<Factory> {
        self.entries.get(type_name).copied()
    }

    /// Every registered type name, sorted.
    pub fn type_names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    fn lookup(&self, spec: &PluginSpec) -> Result<Factory, BuildError> {
        self.factory(&spec.type_name).ok_or_else(|| {
            BuildError::invalid(spec, format!("unknown plugin type `{}`", spec.type_name))
        })
    }
}

macro_rules! builder {
    ($fn_name:ident, $variant:ident, $trait:ident) => {
        impl Catalogue {
            #[doc = concat!("Builds the ", stringify!($trait), " `spec` describes.")]
            pub fn $fn_name(
                &self,
                spec: &PluginSpec,
                globals: &Globals,
            ) -> Result<Box<dyn $trait>, BuildError> {
                match self.lookup(spec)? {
                    Factory::$variant(build) => build(spec, globals),
                    other => Err(BuildError::invalid(
                        spec,
                        format!(
                            "type `{}` is a {:?}, not a {}",
                            spec.type_name,
                            other.category(),
                            stringify!($trait)
                        ),
                    )),
                }
            }
        }
    };
}

builder!(input, Input, Input);
builder!(splitter, Splitter, Splitter);

/// Builds a decoder named in the config (a composite decoder's sub-decoder).
pub type SubDecoders<'a> = dyn FnMut(&str) -> Result<Box<dyn Decoder>, BuildError> + 'a;

/// A composite decoder's factory.
pub type MultiBuildFn =
    fn(&PluginSpec, &Globals, &mut SubDecoders<'_>) -> Result<Box<dyn Decoder>, BuildError>;

/// How deep composite decoders may nest (a cycle stops here).
const MAX_DECODER_DEPTH: usize = 16;

impl Catalogue {
    /// Builds the decoder `spec` describes; a composite decoder finds the
    /// decoders it names among `specs`.
    pub fn decoder(
        &self,
        spec: &PluginSpec,
        globals: &Globals,
        specs: &[PluginSpec],
    ) -> Result<Box<dyn Decoder>, BuildError> {
        self.decoder_at(spec, globals, specs, 0)
    }

    fn decoder_at(
        &self,
        spec: &PluginSpec,
        globals: &Globals,
        specs: &[PluginSpec],
        depth: usize,
    ) -> Result<Box<dyn Decoder>, BuildError> {
        match self.lookup(spec)? {
            Factory::Decoder(build) => build(spec, globals),
            Factory::MultiDecoder(build) => {
                if depth >= MAX_DECODER_DEPTH {
                    return Err(BuildError::invalid(
                        spec,
                        format!("decoders nest more than {MAX_DECODER_DEPTH} deep (a cycle?)"),
                    ));
                }
                let mut sub = |name: &str| -> Result<Box<dyn Decoder>, BuildError> {
                    let found = specs.iter().find(|s| s.name == name);
                    let Some(sub) = found.filter(|s| s.category == Category::Decoder) else {
                        return Err(BuildError::invalid(
                            spec,
                            format!("sub-decoder `{name}` is not a configured decoder"),
                        ));
                    };
                    self.decoder_at(sub, globals, specs, depth + 1)
                };
                build(spec, globals, &mut sub)
            }
            other => Err(BuildError::invalid(
                spec,
                format!(
                    "type `{}` is a {:?}, not a Decoder",
                    spec.type_name,
                    other.category()
                ),
            )),
        }
    }
}

builder!(filter, Filter, Filter);
builder!(encoder, Encoder, Encoder);
builder!(output, Output, Output);
