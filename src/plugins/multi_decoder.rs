//! MultiDecoder: a decoder made of the decoders its `subs` list names,
//! built by the catalogue from the same config (so each input stream gets
//! its own instances). It runs where any decoder runs, inside an input's
//! stream.
//!
//! Heka's keys: `subs` (ordered), `cascade_strategy` and `log_sub_errors`.
//! `first-wins` (the default) tries the subs in order on the record and
//! keeps the first success. `all` runs every sub in order, each on what the
//! previous successes produced (a failing sub leaves its input as it was).
//! Either way the record fails only when no sub succeeds, with every sub's
//! error in the text.

use heka_actors::catalogue::SubDecoders;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{BuildError, Decoder, Incoming, PluginError};
use heka_proto::MessageView;
use serde::Deserialize;

use super::options;

/// `[name] type = "MultiDecoder"` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiDecoderConfig {
    /// The decoders, in order.
    pub subs: Vec<String>,
    /// `first-wins` or `all`.
    #[serde(default = "first_wins")]
    pub cascade_strategy: String,
    /// Log each sub-decoder failure (counted with the record either way).
    #[serde(default)]
    pub log_sub_errors: bool,
}

fn first_wins() -> String {
    "first-wins".into()
}

/// Heka's MultiDecoder.
pub struct MultiDecoder {
    name: String,
    subs: Vec<(String, Box<dyn Decoder>)>,
    all: bool,
    log_sub_errors: bool,
}

impl std::fmt::Debug for MultiDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiDecoder")
            .field(
                "subs",
                &self.subs.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("all", &self.all)
            .finish()
    }
}

impl MultiDecoder {
    /// Builds the decoder `spec` describes, and its subs through `sub`.
    pub fn build(
        spec: &PluginSpec,
        _: &Globals,
        sub: &mut SubDecoders<'_>,
    ) -> Result<Box<dyn Decoder>, BuildError> {
        let cfg: MultiDecoderConfig = options(spec)?;
        let all = match cfg.cascade_strategy.as_str() {
            "first-wins" => false,
            "all" => true,
            other => {
                return Err(BuildError::invalid(
                    spec,
                    format!("cascade_strategy {other:?}: first-wins or all"),
                ));
            }
        };
        if cfg.subs.is_empty() {
            return Err(BuildError::invalid(
                spec,
                "subs must name at least one decoder",
            ));
        }
        let subs = cfg
            .subs
            .iter()
            .map(|name| Ok((name.clone(), sub(name)?)))
            .collect::<Result<_, BuildError>>()?;
        Ok(Box::new(MultiDecoder {
            name: spec.name.clone(),
            subs,
            all,
            log_sub_errors: cfg.log_sub_errors,
        }))
    }

    fn failed(&self, name: &str, err: &PluginError, errors: &mut Vec<String>) {
        if self.log_sub_errors {
            tracing::warn!(plugin = %self.name, sub = %name, error = %err, "Sub-decoder failed.");
        }
        errors.push(format!("{name}: {err}"));
    }
}

impl Decoder for MultiDecoder {
    fn parallel(&self) -> bool {
        self.subs.iter().all(|(_, sub)| sub.parallel())
    }

    fn decode(&mut self, input: Incoming, out: &mut Vec<MessageView>) -> Result<(), PluginError> {
        let mut errors = Vec::new();
        let mut produced = Vec::new();
        // Every sub sees the same message (one uuid and timestamp).
        let input = match input {
            Incoming::Text(text) => Incoming::Message(Box::new(text.message())),
            other => other,
        };
        if !self.all {
            for i in 0..self.subs.len() {
                produced.clear();
                let (name, sub) = &mut self.subs[i];
                match sub.decode(input.clone(), &mut produced) {
                    Ok(()) => {
                        out.append(&mut produced);
                        return Ok(());
                    }
                    Err(err) => {
                        let name = name.clone();
                        self.failed(&name, &err, &mut errors);
                    }
                }
            }
            return Err(PluginError::message(errors.join("; ")));
        }
        let mut current = vec![input];
        let mut succeeded = false;
        for i in 0..self.subs.len() {
            let mut next = Vec::with_capacity(current.len());
            for item in current {
                produced.clear();
                let (name, sub) = &mut self.subs[i];
                match sub.decode(item.clone(), &mut produced) {
                    Ok(()) => {
                        succeeded = true;
                        next.extend(produced.drain(..).map(|v| Incoming::Message(Box::new(v))));
                    }
                    Err(err) => {
                        let name = name.clone();
                        self.failed(&name, &err, &mut errors);
                        next.push(item);
                    }
                }
            }
            current = next;
        }
        if !succeeded {
            return Err(PluginError::message(errors.join("; ")));
        }
        for item in current {
            out.push(item.into_message()?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use heka_actors::config::Config;
    use heka_proto::{FieldValue, Message};

    use super::*;

    fn build(config: &str) -> Result<Box<dyn Decoder>, BuildError> {
        let cfg = Config::from_str(config, std::path::Path::new("t.toml")).unwrap();
        let spec = cfg.plugin("multi").unwrap();
        crate::catalogue::catalogue().decoder(spec, &cfg.globals, &cfg.plugins)
    }

    const SUBS: &str = "[kv]\ntype = 'PayloadRegexDecoder'\nmatch_regex = '^(?P<k>\\w+)=(?P<v>\\w+)$'\n\
        [kv.message_fields]\nType = 'kv'\nvalue = '%v%'\n\
        [num]\ntype = 'PayloadRegexDecoder'\nmatch_regex = '^(?P<n>\\d+)$'\n\
        [num.message_fields]\nType = 'num'\n\
        [tag]\ntype = 'ScribbleDecoder'\n[tag.message_fields]\ntagged = true\n";

    fn line(payload: &str) -> Incoming {
        let mut m = Message::new([1; 16], 1);
        m.payload = Some(Bytes::copy_from_slice(payload.as_bytes()));
        Incoming::Message(Box::new(MessageView::from_message(&m).unwrap()))
    }

    #[test]
    fn first_wins_keeps_the_first_success() {
        let mut d = build(&format!(
            "[multi]\ntype = 'MultiDecoder'\nsubs = ['kv', 'num']\n{SUBS}"
        ))
        .unwrap();
        let mut out = Vec::new();
        d.decode(line("a=b"), &mut out).unwrap();
        d.decode(line("42"), &mut out).unwrap();
        assert_eq!(out[0].r#type(), b"kv");
        assert_eq!(out[1].r#type(), b"num");
        let err = d.decode(line("?"), &mut out).unwrap_err();
        assert!(
            err.to_string().contains("kv: no match") && err.to_string().contains("num: no match"),
            "{err}"
        );
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn all_chains_the_successes() {
        let mut d = build(&format!(
            "[multi]\ntype = 'MultiDecoder'\nsubs = ['kv', 'num', 'tag']\ncascade_strategy = 'all'\n{SUBS}"
        ))
        .unwrap();
        let mut out = Vec::new();
        d.decode(line("a=b"), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].r#type(), b"kv", "num failed and left kv's output");
        assert_eq!(
            out[0].field_value(b"tagged", 0, 0),
            Some(FieldValue::Bool(true))
        );
        assert_eq!(
            out[0].field_value(b"value", 0, 0),
            Some(FieldValue::String(b"b"))
        );
    }

    #[test]
    fn bad_subs_and_cycles_are_build_errors() {
        let err = build(&format!(
            "[multi]\ntype = 'MultiDecoder'\nsubs = ['nope']\n{SUBS}"
        ))
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("`nope` is not a configured decoder"),
            "{err}"
        );
        let err = build("[multi]\ntype = 'MultiDecoder'\nsubs = ['other']\n[other]\ntype = 'MultiDecoder'\nsubs = ['multi']\n")
            .err()
            .unwrap();
        assert!(err.to_string().contains("nest more than"), "{err}");
        let err = build(&format!(
            "[multi]\ntype = 'MultiDecoder'\nsubs = ['kv']\ncascade_strategy = 'some'\n{SUBS}"
        ))
        .err()
        .unwrap();
        assert!(err.to_string().contains("cascade_strategy"), "{err}");
    }
}
