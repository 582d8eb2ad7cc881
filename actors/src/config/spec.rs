//! The loaded configuration as the runtime sees it: `[hekad]` globals and one
//! [`PluginSpec`] per plugin table, with Heka's common keys already split from
//! the plugin's own options. Loading and validation live in the sibling
//! modules; this file only holds the shapes every other part of the crate uses.

use std::path::PathBuf;
use std::time::Duration;

/// Heka's `[hekad]` section (HEKA-SPEC §3.2), with Heka's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Globals {
    /// Worker threads (actix arbiters) the pipeline spreads its runners over.
    pub maxprocs: usize,
    /// Packs in each of the two pools (input and inject).
    pub poolsize: usize,
    /// Capacity of every runner mailbox, in batches.
    pub plugin_chansize: usize,
    /// How many times a message chain may be re-injected (0 is treated as 1).
    pub max_message_loops: u32,
    /// Injections allowed per `process_message` call.
    pub max_process_inject: u32,
    /// Injections allowed per `timer_event` call.
    pub max_timer_inject: u32,
    /// Slow-sandbox threshold in nanoseconds.
    pub max_process_duration: u64,
    /// Idle time after which a pack counts as leaked in diagnostics.
    pub max_pack_idle: Duration,
    /// Writable state directory.
    pub base_dir: PathBuf,
    /// Read-only resources directory.
    pub share_dir: PathBuf,
    /// 1-in-N sampling for timing statistics.
    pub sample_denominator: u32,
    /// Where to write the pid, if anywhere.
    pub pid_file: Option<PathBuf>,
    /// Hostname stamped on generated messages.
    pub hostname: String,
    /// Largest message accepted or written, in bytes.
    pub max_message_size: u32,
    /// Go `log` prefix flags for hekad's own log lines.
    pub log_flags: i64,
    /// Start-time waits for a full buffered queue.
    pub full_buffer_max_retries: u32,
    /// Ours (`[hekad] shutdown_timeout`, default 10 s): once shutdown has
    /// begun, an output still failing to deliver after this long gives up;
    /// what it held is counted as dropped and logged, and hekad exits
    /// (Heka hung forever, as this runtime did before).
    pub shutdown_timeout: Duration,
}

impl Default for Globals {
    fn default() -> Self {
        Globals {
            maxprocs: 1,
            poolsize: 100,
            plugin_chansize: 30,
            max_message_loops: 4,
            max_process_inject: 1,
            max_timer_inject: 10,
            max_process_duration: 100_000,
            max_pack_idle: Duration::from_secs(120),
            base_dir: PathBuf::from("/var/cache/hekad"),
            share_dir: PathBuf::from("/usr/share/heka"),
            sample_denominator: 1000,
            pid_file: None,
            hostname: String::new(),
            max_message_size: heka_proto::framing::DEFAULT_MAX_MESSAGE_SIZE as u32,
            log_flags: 3,
            full_buffer_max_retries: 10,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// The six plugin kinds, derived from the type name's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// `…Input`
    Input,
    /// `…Splitter`
    Splitter,
    /// `…Decoder`
    Decoder,
    /// `…Filter`
    Filter,
    /// `…Encoder`
    Encoder,
    /// `…Output`
    Output,
}

impl Category {
    /// The category of a plugin type name, from its suffix as Heka derives it.
    pub fn of_type(type_name: &str) -> Option<Category> {
        [
            ("Input", Category::Input),
            ("Splitter", Category::Splitter),
            ("Decoder", Category::Decoder),
            ("Filter", Category::Filter),
            ("Encoder", Category::Encoder),
            ("Output", Category::Output),
        ]
        .into_iter()
        .find(|(suffix, _)| type_name.ends_with(suffix))
        .map(|(_, c)| c)
    }

    /// The plural name used in reports (`inputs`, `decoders`, …).
    pub fn report_name(self) -> &'static str {
        match self {
            Category::Input => "inputs",
            Category::Splitter => "splitters",
            Category::Decoder => "decoders",
            Category::Filter => "filters",
            Category::Encoder => "encoders",
            Category::Output => "outputs",
        }
    }
}

/// A plugin's `[<name>.retries]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// First back-off delay.
    pub delay: Duration,
    /// Cap on the doubling delay.
    pub max_delay: Duration,
    /// Uniform random 0..max_jitter added to every wait.
    pub max_jitter: Duration,
    /// -1 forever, 0 never restart, N attempts.
    pub max_retries: i64,
}

impl Default for Retries {
    fn default() -> Self {
        Retries {
            delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_jitter: Duration::from_millis(500),
            max_retries: -1,
        }
    }
}

/// What a buffered plugin's disk queue does when a batch does not fit
/// under `max_buffer_size` (`[name.buffering] full_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullAction {
    /// Stop hekad cleanly with exit status 1 (Heka's default).
    Shutdown,
    /// Discard the batch (counted in the plugin's dropped, logged).
    Drop,
    /// Hold the router back, retrying with a 50 ms..1 s back-off.
    Block,
}

/// A plugin's `[name.buffering]` table (HEKA-SPEC §3.3), with Heka's
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffering {
    /// Roll to a new segment file once the current one reaches this many
    /// bytes (0 in the table means the default).
    pub max_file_size: u64,
    /// Most bytes the queue may hold on disk; 0 is unlimited.
    pub max_buffer_size: u64,
    /// What happens when a batch does not fit.
    pub full_action: FullAction,
    /// The checkpoint is written once this many records were handled
    /// since the last one (and at shutdown).
    pub cursor_update_count: u64,
}

/// Heka's default `max_file_size`: 512 MiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 512 * 1024 * 1024;

impl Default for Buffering {
    fn default() -> Self {
        Buffering {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_buffer_size: 0,
            full_action: FullAction::Shutdown,
            cursor_update_count: 1,
        }
    }
}

/// Heka's common keys (HEKA-SPEC §3.3), consumed by the runtime and never
/// seen by the plugin. `None` means "not set": the runtime or the plugin type
/// supplies the default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommonKeys {
    /// Inputs: decoder section name.
    pub decoder: Option<String>,
    /// Inputs: splitter section name.
    pub splitter: Option<String>,
    /// Inputs: decode inline (always true here; accepted for compatibility).
    pub synchronous_decode: Option<bool>,
    /// Inputs: route packs that failed to decode, tagged.
    pub send_decode_failures: Option<bool>,
    /// Inputs: log packs that failed to decode.
    pub log_decode_failures: Option<bool>,
    /// All runners: whether the plugin may exit without stopping hekad.
    pub can_exit: Option<bool>,
    /// Seconds between timer events (0 = none).
    pub ticker_interval: Option<u64>,
    /// The restart policy (Heka's defaults when no table is given).
    pub retries: Retries,
    /// Whether a `[name.retries]` table was given.
    pub retries_configured: bool,
    /// Filters and outputs: the message matcher expression.
    pub message_matcher: Option<String>,
    /// Filters and outputs: only packs signed by this signer match.
    pub message_signer: Option<String>,
    /// Outputs: encoder section name.
    pub encoder: Option<String>,
    /// Outputs: wrap encoder output in Heka framing.
    pub use_framing: Option<bool>,
    /// Filters and outputs: disk buffering (see [`crate::queue`]); the
    /// plugin's default when unset.
    pub use_buffering: Option<bool>,
    /// Filters and outputs: the `[name.buffering]` table, when given.
    pub buffering: Option<Buffering>,
    /// Splitters: deliver over-long records truncated instead of dropping them.
    pub keep_truncated: Option<bool>,
    /// Splitters: the record is a protobuf message rather than a payload.
    pub use_message_bytes: Option<bool>,
    /// Splitters: initial read buffer size.
    pub min_buffer_size: Option<usize>,
    /// Splitters: deliver a trailing partial record at end of stream.
    pub deliver_incomplete_final: Option<bool>,
}

/// Where a table was defined, for error messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// The file the table came from (empty for built-in defaults and code).
    pub file: PathBuf,
    /// 1-based line of the table header (0 when unknown).
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.file.as_os_str().is_empty() {
            f.write_str("<built-in>")
        } else {
            write!(f, "{}:{}", self.file.display(), self.line)
        }
    }
}

/// One plugin table: `[name]` with its `type`, the common keys and the
/// plugin's own options (still TOML, deserialised by the plugin's factory
/// with unknown keys rejected).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    /// The table name, which is the instance name.
    pub name: String,
    /// The `type` key, or the table name when absent.
    pub type_name: String,
    /// Derived from the type's suffix.
    pub category: Category,
    /// Heka's common keys.
    pub common: CommonKeys,
    /// The plugin's own keys (common keys removed), including sub-tables
    /// such as `[name.signer.x_0]` or `[name.config]`.
    pub options: toml::Table,
    /// Where the table header is.
    pub location: Location,
    /// Line of each top-level key of `options`, for error messages.
    pub key_lines: std::collections::BTreeMap<String, usize>,
    /// True for Heka's automatic default instances (`ProtobufDecoder`, …).
    pub default_instance: bool,
}

/// Heka's Lua sandbox plugin types: `can_exit` defaults to true for them,
/// and without a `retries` table a terminated sandbox stays terminated
/// (Heka never restarted sandboxes).
pub const SANDBOX_TYPES: [&str; 5] = [
    "SandboxInput",
    "SandboxDecoder",
    "SandboxFilter",
    "SandboxEncoder",
    "SandboxOutput",
];

impl PluginSpec {
    /// Whether this is one of Heka's Lua sandbox types.
    pub fn is_sandbox(&self) -> bool {
        SANDBOX_TYPES.contains(&self.type_name.as_str())
    }

    /// `can_exit`, defaulting as Heka does: true for sandboxes, else false.
    pub fn can_exit(&self) -> bool {
        self.common.can_exit.unwrap_or_else(|| self.is_sandbox())
    }

    /// The restart policy: the `retries` table, or Heka's defaults (never
    /// restart for sandboxes, restart forever for the rest).
    pub fn retries(&self) -> Retries {
        if self.is_sandbox() && !self.common.retries_configured {
            return Retries {
                max_retries: 0,
                ..self.common.retries
            };
        }
        self.common.retries
    }

    /// The disk queue settings when this plugin is buffered: `use_buffering`
    /// (else true exactly when the plugin type has `plugin_default`
    /// settings), with the `[name.buffering]` table, else the plugin's
    /// defaults, else Heka's. Only filters and outputs are ever buffered.
    pub fn buffering(&self, plugin_default: Option<Buffering>) -> Option<Buffering> {
        if !matches!(self.category, Category::Filter | Category::Output) {
            return None;
        }
        if !self
            .common
            .use_buffering
            .unwrap_or(plugin_default.is_some())
        {
            return None;
        }
        Some(self.common.buffering.or(plugin_default).unwrap_or_default())
    }

    /// A spec built in code (no file): `type_name` defaults the category.
    /// Returns `None` when the type name has no known category suffix.
    pub fn new(name: &str, type_name: &str) -> Option<PluginSpec> {
        Some(PluginSpec {
            name: name.to_owned(),
            type_name: type_name.to_owned(),
            category: Category::of_type(type_name)?,
            common: CommonKeys::default(),
            options: toml::Table::new(),
            location: Location::default(),
            key_lines: Default::default(),
            default_instance: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandboxes_may_exit_and_are_not_restarted_unless_configured() {
        let mut sandbox = PluginSpec::new("lua", "SandboxFilter").unwrap();
        assert!(sandbox.can_exit());
        assert_eq!(sandbox.retries().max_retries, 0);
        sandbox.common.retries_configured = true;
        assert_eq!(sandbox.retries().max_retries, -1);
        sandbox.common.can_exit = Some(false);
        assert!(!sandbox.can_exit());
        let plain = PluginSpec::new("count", "CounterFilter").unwrap();
        assert!(!plain.can_exit());
        assert_eq!(plain.retries().max_retries, -1);
    }
}
