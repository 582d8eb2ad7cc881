//! LogstreamerInput's options (Heka's keys and defaults) and their checked
//! form, [`Settings`]: the compiled [`FilePattern`], the parsed durations
//! and the resolved journal directory. Used by the input when hekad builds
//! it and by heka-logstreamer when it checks a config offline.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec, parse_duration};
use heka_actors::plugin::BuildError;
use serde::Deserialize;

use super::pattern::FilePattern;

/// The type name hekad's config uses.
pub const TYPE_NAME: &str = "LogstreamerInput";

/// Where `journal_directory` defaults to, under `base_dir`.
pub const JOURNAL_SUBDIR: &str = "logstreamer";

/// A duration as Heka's configs wrote it: a Go duration string (`"1m"`), or
/// (older configs) an integer number of milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum DurationValue {
    /// `"250ms"`, `"1m"`, `"720h"`.
    Text(String),
    /// Milliseconds.
    Millis(u64),
}

impl DurationValue {
    fn parse(&self) -> Result<Duration, String> {
        match self {
            DurationValue::Text(text) => parse_duration(text),
            DurationValue::Millis(ms) => Ok(Duration::from_millis(*ms)),
        }
    }
}

/// `[name] type = "LogstreamerInput"` options, with Heka's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogstreamerInputConfig {
    /// The directory scanned (recursively) for files.
    #[serde(default = "default_log_directory")]
    pub log_directory: String,
    /// Regex matched against each file's path relative to `log_directory`;
    /// anchored at both ends. Named groups feed `priority`,
    /// `differentiator` and `translation`.
    pub file_match: String,
    /// Group names sorting a stream's files oldest first; `^Name` sorts that
    /// group descending.
    #[serde(default)]
    pub priority: Vec<String>,
    /// Group names (replaced by their match) and literal strings, joined
    /// into the stream's name (the messages' Logger).
    #[serde(default)]
    pub differentiator: Vec<String>,
    /// Group name → matched value → sort integer.
    #[serde(default)]
    pub translation: BTreeMap<String, BTreeMap<String, i64>>,
    /// How often the directory is scanned for new streams and files.
    #[serde(default = "default_rescan_interval")]
    pub rescan_interval: DurationValue,
    /// How often a stream at the end of its file looks for more data.
    #[serde(default = "default_check_data_interval")]
    pub check_data_interval: DurationValue,
    /// Files last modified longer ago than this are ignored.
    #[serde(default = "default_oldest_duration")]
    pub oldest_duration: DurationValue,
    /// Where each stream's journal is kept (default `<base_dir>/logstreamer`;
    /// a relative path is under `base_dir`).
    #[serde(default)]
    pub journal_directory: Option<String>,
    /// Hostname stamped on the messages (default hekad's hostname).
    #[serde(default)]
    pub hostname: Option<String>,
    /// With no journal, start at the end of the newest file instead of the
    /// start of the oldest.
    #[serde(default)]
    pub initial_tail: bool,
}

fn default_log_directory() -> String {
    "/var/log".into()
}

fn default_rescan_interval() -> DurationValue {
    DurationValue::Text("1m".into())
}

fn default_check_data_interval() -> DurationValue {
    DurationValue::Text("250ms".into())
}

fn default_oldest_duration() -> DurationValue {
    DurationValue::Text("720h".into())
}

/// The checked configuration of one LogstreamerInput.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The directory scanned.
    pub log_directory: PathBuf,
    /// Matching, sorting and naming of files.
    pub pattern: FilePattern,
    /// Stream discovery period.
    pub rescan_interval: Duration,
    /// Polling period at the end of a file.
    pub check_data_interval: Duration,
    /// Files older than this are ignored.
    pub oldest_duration: Duration,
    /// Where journals live.
    pub journal_directory: PathBuf,
    /// Hostname of the messages.
    pub hostname: String,
    /// Start new streams at their end.
    pub initial_tail: bool,
}

impl Settings {
    /// Reads and checks `spec`'s options; errors name the section and key.
    pub fn from_spec(spec: &PluginSpec, globals: &Globals) -> Result<Settings, BuildError> {
        let config: LogstreamerInputConfig = crate::plugins::options(spec)?;
        let invalid = |key: &str, text: String| BuildError::from(spec.invalid(key, text));
        let duration = |key: &str, value: &DurationValue| {
            let d = value.parse().map_err(|e| invalid(key, e))?;
            match d.is_zero() {
                true => Err(invalid(key, "must be greater than zero".into())),
                false => Ok(d),
            }
        };
        let pattern = FilePattern::new(
            &config.file_match,
            &config.priority,
            &config.differentiator,
            &config.translation,
            &spec.name,
        )
        .map_err(|e| invalid(e.key(), e.to_string()))?;
        let journal_directory = match &config.journal_directory {
            None => globals.base_dir.join(JOURNAL_SUBDIR),
            // `join` keeps an absolute path as it is.
            Some(dir) => globals.base_dir.join(dir),
        };
        Ok(Settings {
            log_directory: PathBuf::from(&config.log_directory),
            pattern,
            rescan_interval: duration("rescan_interval", &config.rescan_interval)?,
            check_data_interval: duration("check_data_interval", &config.check_data_interval)?,
            oldest_duration: duration("oldest_duration", &config.oldest_duration)?,
            journal_directory,
            hostname: config
                .hostname
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| globals.hostname.clone()),
            initial_tail: config.initial_tail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heka_actors::config::Config;
    use std::path::Path;

    fn settings(text: &str) -> Result<Settings, BuildError> {
        let config = Config::from_str(text, Path::new("t.toml")).unwrap();
        let spec = config.plugin("logs").unwrap();
        Settings::from_spec(spec, &config.globals)
    }

    #[test]
    fn heka_defaults_apply() {
        let s = settings(
            "[hekad]\nbase_dir = \"/b\"\nhostname = \"box\"\n\
             [logs]\ntype = \"LogstreamerInput\"\nfile_match = 'app\\.log'\n",
        )
        .unwrap();
        assert_eq!(s.log_directory, Path::new("/var/log"));
        assert_eq!(s.rescan_interval, Duration::from_secs(60));
        assert_eq!(s.check_data_interval, Duration::from_millis(250));
        assert_eq!(s.oldest_duration, Duration::from_secs(720 * 3600));
        assert_eq!(s.journal_directory, Path::new("/b/logstreamer"));
        assert_eq!(s.hostname, "box");
        assert!(!s.initial_tail);
    }

    #[test]
    fn keys_are_read_and_relative_journals_live_under_base_dir() {
        let s = settings(
            "[hekad]\nbase_dir = \"/b\"\n\
             [logs]\ntype = \"LogstreamerInput\"\nlog_directory = \"/l\"\n\
             file_match = 'a(?P<Seq>\\d*)'\npriority = [\"^Seq\"]\n\
             rescan_interval = 500\ncheck_data_interval = \"1s\"\n\
             oldest_duration = \"1h\"\njournal_directory = \"j\"\n\
             hostname = \"h\"\ninitial_tail = true\n",
        )
        .unwrap();
        assert_eq!(s.rescan_interval, Duration::from_millis(500));
        assert_eq!(s.check_data_interval, Duration::from_secs(1));
        assert_eq!(s.journal_directory, Path::new("/b/j"));
        assert_eq!(s.hostname, "h");
        assert!(s.initial_tail);
    }

    #[test]
    fn mistakes_name_their_key() {
        let base = "[logs]\ntype = \"LogstreamerInput\"\n";
        for (extra, key) in [
            ("file_match = '('\n", "file_match"),
            ("file_match = 'a'\npriority = [\"Nope\"]\n", "priority"),
            (
                "file_match = 'a'\ncheck_data_interval = \"soon\"\n",
                "check_data_interval",
            ),
            (
                "file_match = 'a'\nrescan_interval = \"0s\"\n",
                "rescan_interval",
            ),
            ("file_match = 'a'\nbogus = 1\n", "bogus"),
            ("log_directory = \"/x\"\n", "file_match"),
        ] {
            let err = settings(&format!("{base}{extra}")).unwrap_err().message;
            assert!(err.contains(key), "{extra}: {err}");
        }
    }
}
