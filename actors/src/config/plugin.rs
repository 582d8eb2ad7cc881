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
mod tests;
