//! Building a pipeline before starting it: every plugin is constructed from
//! its spec (and every splitter, decoder and encoder template once, so their
//! config errors show up too), every matcher compiled. All errors are
//! collected, so `hekad --check` reports them together; nothing starts
//! unless everything built.

use std::sync::Arc;

use bytes::Bytes;
use heka_grammar::Matcher;

use crate::catalogue::Catalogue;
use crate::config::{Buffering, Category, Globals, PluginSpec};
use crate::plugin::{BuildError, Encoder, Filter, Input, Output};
use crate::runner::output::build_encoder;

/// A built filter or output's routing: matcher, signer, and whether packs
/// reach it through a disk queue.
pub struct Routing {
    /// The compiled `message_matcher`.
    pub matcher: Arc<Matcher>,
    /// The `message_signer`.
    pub signer: Option<Bytes>,
    /// The disk queue settings when the plugin is buffered.
    pub buffering: Option<Buffering>,
}

/// A built output with its encoder, `use_framing` and routing.
pub struct BuiltOutput {
    /// Its spec.
    pub spec: PluginSpec,
    /// The output.
    pub output: Box<dyn Output>,
    /// Its encoder, if it has one.
    pub encoder: Option<Box<dyn Encoder>>,
    /// Whether records are framed.
    pub use_framing: bool,
    /// Matcher and signer.
    pub routing: Routing,
}

impl Routing {
    /// The router subscription for runner `name`.
    pub fn subscribe(
        self,
        name: &Arc<str>,
        recipient: actix::Recipient<crate::messages::Deliver>,
        stats: Arc<crate::stats::RunnerStats>,
    ) -> crate::messages::Subscribe {
        crate::messages::Subscribe {
            name: Arc::clone(name),
            matcher: self.matcher,
            signer: self.signer,
            recipient,
            stats,
        }
    }
}

/// Everything built and ready to start.
#[derive(Default)]
pub struct Blueprint {
    /// Inputs in config order.
    pub inputs: Vec<(PluginSpec, Box<dyn Input>)>,
    /// Filters in config order.
    pub filters: Vec<(PluginSpec, Box<dyn Filter>, Routing)>,
    /// Outputs with their encoder.
    pub outputs: Vec<BuiltOutput>,
}

/// Builds every plugin in `specs`, collecting every error.
pub fn build(
    specs: &[PluginSpec],
    catalogue: &Catalogue,
    globals: &Globals,
) -> Result<Blueprint, Vec<BuildError>> {
    let mut bp = Blueprint::default();
    let mut errors = Vec::new();
    let template =
        |name: &str, want: Category, user: &PluginSpec| -> Result<&PluginSpec, BuildError> {
            let spec =
                specs.iter().rev().find(|s| s.name == name).ok_or_else(|| {
                    BuildError::invalid(user, format!("no section named `{name}`"))
                })?;
            if spec.category != want {
                return Err(BuildError::invalid(
                    user,
                    format!("`{name}` is a {:?}, not a {want:?}", spec.category),
                ));
            }
            Ok(spec)
        };
    for spec in specs {
        let result = match spec.category {
            Category::Splitter => catalogue.splitter(spec, globals).map(drop),
            Category::Decoder => catalogue.decoder(spec, globals, specs).map(drop),
            Category::Encoder => catalogue.encoder(spec, globals).map(drop),
            Category::Input => catalogue.input(spec, globals).and_then(|input| {
                // Named templates must exist; a type's defaults are Heka's
                // default instances, checked when a stream opens.
                if let Some(splitter) = &spec.common.splitter {
                    template(splitter, Category::Splitter, spec)?;
                }
                if let Some(decoder) = &spec.common.decoder {
                    template(decoder, Category::Decoder, spec)?;
                }
                bp.inputs.push((spec.clone(), input));
                Ok(())
            }),
            Category::Filter => catalogue.filter(spec, globals).and_then(|filter| {
                if spec.common.ticker_interval.is_some_and(|t| t > 0) && !filter.has_timer() {
                    return Err(BuildError::invalid(
                        spec,
                        "ticker_interval is set but this filter has no timer",
                    ));
                }
                let routing = routing(spec, filter.default_matcher(), None, globals)?;
                bp.filters.push((spec.clone(), filter, routing));
                Ok(())
            }),
            Category::Output => catalogue.output(spec, globals).and_then(|output| {
                let routing = routing(
                    spec,
                    output.default_matcher(),
                    output.default_buffering(),
                    globals,
                )?;
                if let Some(name) = &spec.common.encoder {
                    template(name, Category::Encoder, spec)?;
                }
                let (encoder, framing) = build_encoder(catalogue, specs, globals, spec, &*output)?;
                bp.outputs.push(BuiltOutput {
                    spec: spec.clone(),
                    output,
                    encoder,
                    use_framing: framing,
                    routing,
                });
                Ok(())
            }),
        };
        if let Err(err) = result {
            errors.push(err);
        }
    }
    if errors.is_empty() {
        Ok(bp)
    } else {
        Err(errors)
    }
}

/// Compiles a filter's or output's matcher (or the plugin's default) and
/// checks its buffering (`plugin_buffering`: the type's defaults).
pub fn routing(
    spec: &PluginSpec,
    default: Option<&'static str>,
    plugin_buffering: Option<Buffering>,
    globals: &Globals,
) -> Result<Routing, BuildError> {
    let buffering = spec.buffering(plugin_buffering);
    if let Some(b) = &buffering {
        let min = heka_proto::framing::max_record_size(globals.max_message_size as usize) as u64;
        if b.max_file_size < min {
            return Err(BuildError::invalid(
                spec,
                format!(
                    "buffering.max_file_size must be at least the largest record, {min} bytes; got {}",
                    b.max_file_size
                ),
            ));
        }
    }
    let text = spec
        .common
        .message_matcher
        .as_deref()
        .or(default)
        .ok_or_else(|| BuildError::invalid(spec, "message_matcher is required"))?;
    let matcher = Matcher::compile(text)
        .map_err(|err| BuildError::invalid(spec, format!("message_matcher: {err}")))?;
    Ok(Routing {
        buffering,
        matcher: Arc::new(matcher),
        signer: spec
            .common
            .message_signer
            .as_deref()
            .map(|s| Bytes::copy_from_slice(s.as_bytes())),
    })
}
