//! One plugin table → one [`PluginSpec`] (HEKA-SPEC §3.1, §3.3): the `type`
//! and its category, Heka's common keys split into [`CommonKeys`] (with the
//! `[name.retries]` sub-table), and everything else kept as the plugin's own
//! options with the line of each key, for the plugin to deserialise later
//! (see `options.rs`).
//!
//! Common keys are accepted whatever the category here; which of them a
//! category honours is the runtime's business. Their value types are checked.

use toml::de::DeTable;

use super::duration::parse_duration;
use super::error::{ConfigError, ErrorKind};
use super::spec::{Buffering, Category, CommonKeys, FullAction, Location, PluginSpec, Retries};
use super::value::{Ctx, boolean, entries, integer, string, table, to_value, unsigned};

/// `type`: the plugin type; the table name when absent.
pub const TYPE: &str = "type";
/// Inputs: decoder section name.
pub const DECODER: &str = "decoder";
/// Inputs: splitter section name.
pub const SPLITTER: &str = "splitter";
/// Inputs: decode inline.
pub const SYNCHRONOUS_DECODE: &str = "synchronous_decode";
/// Inputs: route packs that failed to decode.
pub const SEND_DECODE_FAILURES: &str = "send_decode_failures";
/// Inputs: log packs that failed to decode.
pub const LOG_DECODE_FAILURES: &str = "log_decode_failures";
/// Runners: the plugin may exit without stopping hekad.
pub const CAN_EXIT: &str = "can_exit";
/// Seconds between timer events.
pub const TICKER_INTERVAL: &str = "ticker_interval";
/// The `[name.retries]` sub-table.
pub const RETRIES: &str = "retries";
/// Filters and outputs: the message matcher.
pub const MESSAGE_MATCHER: &str = "message_matcher";
/// Filters and outputs: the required signer.
pub const MESSAGE_SIGNER: &str = "message_signer";
/// Outputs: encoder section name.
pub const ENCODER: &str = "encoder";
/// Outputs: Heka framing around encoder output.
pub const USE_FRAMING: &str = "use_framing";
/// Filters and outputs: disk buffering.
pub const USE_BUFFERING: &str = "use_buffering";
/// The `[name.buffering]` sub-table (the disk queue's settings).
pub const BUFFERING: &str = "buffering";
/// Splitters: deliver over-long records truncated.
pub const KEEP_TRUNCATED: &str = "keep_truncated";
/// Splitters: records are protobuf messages.
pub const USE_MESSAGE_BYTES: &str = "use_message_bytes";
/// Splitters: initial read buffer size.
pub const MIN_BUFFER_SIZE: &str = "min_buffer_size";
/// Splitters: deliver a trailing partial record.
pub const DELIVER_INCOMPLETE_FINAL: &str = "deliver_incomplete_final";

const MAX_FILE_SIZE: &str = "max_file_size";
const MAX_BUFFER_SIZE: &str = "max_buffer_size";
const FULL_ACTION: &str = "full_action";
const CURSOR_UPDATE_COUNT: &str = "cursor_update_count";

const DELAY: &str = "delay";
const MAX_DELAY: &str = "max_delay";
const MAX_JITTER: &str = "max_jitter";
const MAX_RETRIES: &str = "max_retries";

/// Reads the table `[name]` whose header is at `at`. Pushes one error per
/// problem; returns the spec only when the table had none.
pub(crate) fn read_plugin(
    name: &str,
    at: Location,
    section: DeTable<'_>,
    ctx: &Ctx<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<PluginSpec> {
    let errors_before = errors.len();
    let mut type_name = name.to_owned();
    let mut type_line = at.line;
    // A `type` of the wrong TOML type is reported once, not again as an
    // unrecognised category.
    let mut type_bad = false;
    let mut common = CommonKeys::default();
    let mut options = toml::Table::new();
    let mut key_lines = std::collections::BTreeMap::new();

    for entry in entries(section, ctx.lines) {
        let (key, line) = (entry.key.as_str(), entry.line);
        if key == RETRIES {
            match table(entry.value) {
                Ok(t) => {
                    common.retries = read_retries(t, ctx, errors);
                    common.retries_configured = true;
                }
                Err(kind) => errors.push(ctx.error(line, key, kind)),
            }
            continue;
        }
        if key == BUFFERING {
            match table(entry.value) {
                Ok(t) => common.buffering = Some(read_buffering(t, ctx, errors)),
                Err(kind) => errors.push(ctx.error(line, key, kind)),
            }
            continue;
        }
        let result = to_value(entry.value).and_then(|value| match key {
            TYPE => {
                type_line = line;
                type_name = string(value).inspect_err(|_| type_bad = true)?;
                Ok(())
            }
            _ if is_common(key) => set_common(&mut common, key, value),
            _ => {
                key_lines.insert(entry.key.clone(), line);
                options.insert(entry.key.clone(), value);
                Ok(())
            }
        });
        if let Err(kind) = result {
            errors.push(ctx.error(line, key, kind));
        }
    }

    let category = Category::of_type(&type_name);
    if category.is_none() && !type_bad {
        let error = ConfigError::new(
            ctx.file,
            type_line,
            ErrorKind::UnrecognizedCategory(type_name.clone()),
        )
        .in_section(name);
        errors.push(error);
    }
    if errors.len() > errors_before {
        return None;
    }
    Some(PluginSpec {
        name: name.to_owned(),
        type_name,
        category: category?,
        common,
        options,
        location: at,
        key_lines,
        default_instance: false,
    })
}

fn is_common(key: &str) -> bool {
    [
        DECODER,
        SPLITTER,
        SYNCHRONOUS_DECODE,
        SEND_DECODE_FAILURES,
        LOG_DECODE_FAILURES,
        CAN_EXIT,
        TICKER_INTERVAL,
        MESSAGE_MATCHER,
        MESSAGE_SIGNER,
        ENCODER,
        USE_FRAMING,
        USE_BUFFERING,
        KEEP_TRUNCATED,
        USE_MESSAGE_BYTES,
        MIN_BUFFER_SIZE,
        DELIVER_INCOMPLETE_FINAL,
    ]
    .contains(&key)
}

fn set_common(c: &mut CommonKeys, key: &str, value: toml::Value) -> Result<(), ErrorKind> {
    match key {
        DECODER => c.decoder = Some(string(value)?),
        SPLITTER => c.splitter = Some(string(value)?),
        SYNCHRONOUS_DECODE => c.synchronous_decode = Some(boolean(value)?),
        SEND_DECODE_FAILURES => c.send_decode_failures = Some(boolean(value)?),
        LOG_DECODE_FAILURES => c.log_decode_failures = Some(boolean(value)?),
        CAN_EXIT => c.can_exit = Some(boolean(value)?),
        TICKER_INTERVAL => c.ticker_interval = Some(unsigned(value)?),
        MESSAGE_MATCHER => c.message_matcher = Some(string(value)?),
        MESSAGE_SIGNER => c.message_signer = Some(string(value)?),
        ENCODER => c.encoder = Some(string(value)?),
        USE_FRAMING => c.use_framing = Some(boolean(value)?),
        USE_BUFFERING => c.use_buffering = Some(boolean(value)?),
        KEEP_TRUNCATED => c.keep_truncated = Some(boolean(value)?),
        USE_MESSAGE_BYTES => c.use_message_bytes = Some(boolean(value)?),
        MIN_BUFFER_SIZE => {
            let n = unsigned(value)?;
            c.min_buffer_size =
                Some(usize::try_from(n).map_err(|_| {
                    ErrorKind::Invalid(format!("{n} is too large for this machine"))
                })?);
        }
        DELIVER_INCOMPLETE_FINAL => c.deliver_incomplete_final = Some(boolean(value)?),
        _ => unreachable!("is_common and set_common list the same keys"),
    }
    Ok(())
}

/// `[name.retries]`: Heka's defaults for keys not given; errors are keyed
/// `retries.KEY`.
fn read_retries(t: DeTable<'_>, ctx: &Ctx<'_>, errors: &mut Vec<ConfigError>) -> Retries {
    let mut retries = Retries::default();
    for entry in entries(t, ctx.lines) {
        let key = entry.key.as_str();
        let result = to_value(entry.value).and_then(|value| {
            let duration = |value| parse_duration(&string(value)?).map_err(ErrorKind::Invalid);
            match key {
                DELAY => retries.delay = duration(value)?,
                MAX_DELAY => retries.max_delay = duration(value)?,
                MAX_JITTER => retries.max_jitter = duration(value)?,
                MAX_RETRIES => retries.max_retries = integer(value)?,
                _ => return Err(ErrorKind::UnknownKey { hint: None }),
            }
            Ok(())
        });
        if let Err(kind) = result {
            errors.push(ctx.error(entry.line, &format!("{RETRIES}.{key}"), kind));
        }
    }
    retries
}

/// `[name.buffering]`: Heka's defaults for keys not given (a 0
/// `max_file_size` means the default); errors are keyed `buffering.KEY`.
fn read_buffering(t: DeTable<'_>, ctx: &Ctx<'_>, errors: &mut Vec<ConfigError>) -> Buffering {
    let mut buffering = Buffering::default();
    for entry in entries(t, ctx.lines) {
        let key = entry.key.as_str();
        let result = to_value(entry.value).and_then(|value| {
            match key {
                MAX_FILE_SIZE => match unsigned(value)? {
                    0 => {}
                    n => buffering.max_file_size = n,
                },
                MAX_BUFFER_SIZE => buffering.max_buffer_size = unsigned(value)?,
                FULL_ACTION => {
                    buffering.full_action = match string(value)?.as_str() {
                        "shutdown" => FullAction::Shutdown,
                        "drop" => FullAction::Drop,
                        "block" => FullAction::Block,
                        other => {
                            return Err(ErrorKind::Invalid(format!(
                                "must be \"shutdown\", \"drop\" or \"block\", got {other:?}"
                            )));
                        }
                    }
                }
                CURSOR_UPDATE_COUNT => buffering.cursor_update_count = unsigned(value)?.max(1),
                _ => return Err(ErrorKind::UnknownKey { hint: None }),
            }
            Ok(())
        });
        if let Err(kind) = result {
            errors.push(ctx.error(entry.line, &format!("{BUFFERING}.{key}"), kind));
        }
    }
    buffering
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::config::env::Expanded;

    /// Reads the first table of `text` as plugin `name`.
    fn read(text: &str) -> (Option<PluginSpec>, Vec<ConfigError>) {
        let lines = Expanded::plain(text);
        let root = DeTable::parse(&lines.text).unwrap().into_inner();
        let entry = entries(root, &lines).into_iter().next().unwrap();
        let ctx = Ctx {
            file: Path::new("p.toml"),
            lines: &lines,
            section: &entry.key,
        };
        let at = Location {
            file: "p.toml".into(),
            line: entry.line,
        };
        let mut errors = Vec::new();
        let t = table(entry.value).unwrap();
        let spec = read_plugin(&entry.key.clone(), at, t, &ctx, &mut errors);
        (spec, errors)
    }

    #[test]
    fn common_keys_are_split_from_options() {
        let (spec, errors) = read(
            "\n[in]\ntype = \"TcpInput\"\naddress = \":5565\"\ndecoder = \"d\"\n\
             splitter = \"s\"\nsynchronous_decode = true\nsend_decode_failures = true\n\
             log_decode_failures = false\ncan_exit = true\nticker_interval = 5\n\
             message_matcher = \"TRUE\"\nmessage_signer = \"me\"\nencoder = \"e\"\n\
             use_framing = true\nuse_buffering = false\nkeep_truncated = true\n\
             use_message_bytes = true\nmin_buffer_size = 100\n\
             deliver_incomplete_final = true\n[in.buffering]\nmax_file_size = 1\n\
             [in.retries]\ndelay = \"1s\"\nmax_retries = 3\n",
        );
        assert_eq!(errors, vec![]);
        let spec = spec.unwrap();
        assert_eq!(spec.category, Category::Input);
        assert_eq!(spec.location.line, 2);
        let want = CommonKeys {
            decoder: Some("d".into()),
            splitter: Some("s".into()),
            synchronous_decode: Some(true),
            send_decode_failures: Some(true),
            log_decode_failures: Some(false),
            can_exit: Some(true),
            ticker_interval: Some(5),
            retries: Retries {
                delay: Duration::from_secs(1),
                max_retries: 3,
                ..Retries::default()
            },
            retries_configured: true,
            message_matcher: Some("TRUE".into()),
            message_signer: Some("me".into()),
            encoder: Some("e".into()),
            use_framing: Some(true),
            use_buffering: Some(false),
            buffering: Some(Buffering {
                max_file_size: 1,
                ..Buffering::default()
            }),
            keep_truncated: Some(true),
            use_message_bytes: Some(true),
            min_buffer_size: Some(100),
            deliver_incomplete_final: Some(true),
        };
        assert_eq!(spec.common, want);
        let keys: Vec<(&str, usize)> = spec
            .key_lines
            .iter()
            .map(|(k, l)| (k.as_str(), *l))
            .collect();
        assert_eq!(keys, vec![("address", 4)]);
        assert_eq!(spec.options.len(), 1);
        assert_eq!(spec.options["address"].as_str(), Some(":5565"));
    }

    #[test]
    fn type_defaults_to_table_name() {
        let (spec, errors) = read("[LogOutput]\nmessage_matcher = 'TRUE'\n");
        assert!(errors.is_empty());
        let spec = spec.unwrap();
        assert_eq!(spec.type_name, "LogOutput");
        assert_eq!(spec.category, Category::Output);
        assert!(spec.options.is_empty());
    }

    #[test]
    fn unrecognised_category_points_at_type_line() {
        let (spec, errors) = read("[x]\nfoo = 1\ntype = \"Thing\"\n");
        assert!(spec.is_none());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
        assert_eq!(
            errors[0].kind,
            ErrorKind::UnrecognizedCategory("Thing".into())
        );
    }

    #[test]
    fn wrong_types_and_retries_errors_are_all_reported() {
        let (spec, errors) = read(
            "[o]\ntype = 'FileOutput'\ncan_exit = 'yes'\nticker_interval = -1\n\
             [o.retries]\ndelay = '5 s'\nmax_delay = 3\ntries = 2\n",
        );
        assert!(spec.is_none());
        let got: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.line, e.key.as_deref().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "can_exit"),
                (4, "ticker_interval"),
                (6, "retries.delay"),
                (7, "retries.max_delay"),
                (8, "retries.tries"),
            ]
        );
        assert!(matches!(errors[4].kind, ErrorKind::UnknownKey { .. }));
    }

    #[test]
    fn type_of_wrong_type_is_one_error() {
        let (spec, errors) = read("[x]\ntype = 5\n");
        assert!(spec.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key.as_deref(), Some("type"));
        assert_eq!(
            errors[0].kind.to_string(),
            "expected a string, found an integer"
        );
    }

    #[test]
    fn buffering_table_is_read_with_heka_defaults_and_checked() {
        let (spec, errors) = read(
            "[o]\ntype = 'FileOutput'\nuse_buffering = true\n[o.buffering]\n\
             max_file_size = 0\nmax_buffer_size = 4096\nfull_action = 'block'\n",
        );
        assert_eq!(errors, vec![]);
        let want = Buffering {
            max_buffer_size: 4096,
            full_action: FullAction::Block,
            ..Buffering::default()
        };
        let spec = spec.unwrap();
        assert_eq!(spec.common.buffering, Some(want));
        assert_eq!(spec.buffering(None), Some(want));
        let (_, errors) =
            read("[o]\ntype = 'FileOutput'\n[o.buffering]\nfull_action = 'wait'\nmax_size = 1\n");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_deref().unwrap()).collect();
        assert_eq!(keys, ["buffering.full_action", "buffering.max_size"]);
    }

    #[test]
    fn plugin_buffering_defaults_apply_only_without_a_table() {
        let tcp = Buffering {
            max_file_size: 128 << 20,
            cursor_update_count: 50,
            ..Buffering::default()
        };
        let (spec, _) = read("[o]\ntype = 'TcpOutput'\n");
        assert_eq!(spec.unwrap().buffering(Some(tcp)), Some(tcp));
        let (spec, _) = read("[o]\ntype = 'TcpOutput'\nuse_buffering = false\n");
        assert_eq!(spec.unwrap().buffering(Some(tcp)), None);
        let (spec, _) = read("[o]\ntype = 'TcpOutput'\n[o.buffering]\nmax_buffer_size = 9\n");
        let got = spec.unwrap().buffering(Some(tcp)).unwrap();
        assert_eq!((got.max_file_size, got.cursor_update_count), (512 << 20, 1));
        let (spec, _) = read("[i]\ntype = 'TcpInput'\nuse_buffering = true\n");
        assert_eq!(
            spec.unwrap().buffering(None),
            None,
            "inputs are never buffered"
        );
    }

    #[test]
    fn retries_must_be_a_table() {
        let (_, errors) = read("[o]\ntype = 'FileOutput'\nretries = 3\n");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key.as_deref(), Some("retries"));
        assert_eq!(
            errors[0].kind.to_string(),
            "expected a table, found an integer"
        );
    }
}
