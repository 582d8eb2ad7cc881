//! heka-flood's TOML file, as Heka's flood read it: one table per test,
//! chosen with `-test NAME`:
//!
//! ```toml
//! [default]
//! ip_address = "127.0.0.1:5565"
//! sender = "tcp"
//! num_messages = 0              # 0: until stopped
//! message_interval = "0"        # Go duration between messages
//! corrupt_percentage = 0.0
//! signed_percentage = 0.0
//! oversized_percentage = 0.0
//! variable_size_messages = false
//! static_message_size = 64      # payload bytes
//! ascii_only = false
//! max_message_size = 65536
//! reconnect_on_error = false
//! reconnect_interval = "1s"
//! [default.signer]
//! name = "test"
//! hmac_hash = "md5"             # or "sha1"
//! hmac_key = "secret"
//! version = 0
//! ```
//!
//! Every table is checked, as Heka decoded the whole file: an unknown key
//! is an error naming its line. `pprof_file` is accepted and ignored (it
//! was Go profiling); `encoder` must be `protobuf`; `sender = "udp"` and
//! `use_tls = true` are refused, because this heka-flood sends over plain
//! TCP only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use heka_proto::HmacHashFunction;
use heka_proto::framing::DEFAULT_MAX_MESSAGE_SIZE;
use heka_proto::signing::SigningKey;
use serde::Deserialize;

use super::Options;
use super::records::Profile;
use heka_actors::config::parse_duration;

/// One test table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodTest {
    /// `host:port` to send to.
    pub ip_address: String,
    /// Transport: only `tcp` is supported.
    pub sender: String,
    /// Messages to send, 0 for no limit.
    pub num_messages: u64,
    /// Pause between messages, as a Go duration.
    pub message_interval: String,
    /// Share of corrupted records, 0 to 100.
    pub corrupt_percentage: f64,
    /// Share of signed records, 0 to 100.
    pub signed_percentage: f64,
    /// Share of records over `max_message_size`, 0 to 100.
    pub oversized_percentage: f64,
    /// Random payload sizes around `static_message_size`.
    pub variable_size_messages: bool,
    /// Payload bytes per message.
    pub static_message_size: u64,
    /// Printable ASCII payloads instead of random bytes.
    pub ascii_only: bool,
    /// The signing identity for signed records.
    pub signer: SignerConfig,
    /// TLS: refused when true.
    pub use_tls: bool,
    /// TLS settings: accepted, unused (TLS is refused).
    pub tls: toml::Table,
    /// The receiver's message size limit (0: 64 KiB).
    pub max_message_size: u32,
    /// Reconnect and go on after a send error instead of stopping.
    pub reconnect_on_error: bool,
    /// Pause before reconnecting, as a Go duration.
    pub reconnect_interval: String,
    /// Go profiling output: accepted and ignored.
    pub pprof_file: String,
    /// Message encoder: only `protobuf`.
    pub encoder: String,
}

impl Default for FloodTest {
    fn default() -> Self {
        FloodTest {
            ip_address: super::DEFAULT_ADDRESS.into(),
            sender: "tcp".into(),
            num_messages: 0,
            message_interval: "0".into(),
            corrupt_percentage: 0.0,
            signed_percentage: 0.0,
            oversized_percentage: 0.0,
            variable_size_messages: false,
            static_message_size: Profile::default().payload_size as u64,
            ascii_only: false,
            signer: SignerConfig::default(),
            use_tls: false,
            tls: toml::Table::new(),
            max_message_size: 0,
            reconnect_on_error: false,
            reconnect_interval: "1s".into(),
            pprof_file: String::new(),
            encoder: "protobuf".into(),
        }
    }
}

/// A test's `[NAME.signer]` table (Heka's MessageSigningConfig).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignerConfig {
    /// Signer name written to each signed header.
    pub name: String,
    /// `md5` (default) or `sha1`.
    pub hmac_hash: String,
    /// The shared secret.
    pub hmac_key: String,
    /// Key version.
    pub version: u32,
}

/// Why the config cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, or a table does not fit (unknown key, wrong type): the
    /// message names the line.
    #[error("{}: {}", path.display(), source.to_string().trim_end())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML error, with its line and column.
        source: Box<toml::de::Error>,
    },
    /// `-test` names no table.
    #[error("{}: no test section [{section}] (found: {found})", path.display())]
    NoSection {
        /// The file.
        path: PathBuf,
        /// The table asked for.
        section: String,
        /// The tables there are.
        found: String,
    },
    /// A value is out of range or unsupported.
    #[error("{}: [{section}] {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The table.
        section: String,
        /// What is wrong.
        reason: String,
    },
}

/// Reads the test `section` of the file at `path`.
pub fn load(path: &Path, section: &str) -> Result<Options, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path, section)
}

/// Reads the test `section` of `text` (from `path`, for messages).
pub fn parse(text: &str, path: &Path, section: &str) -> Result<Options, ConfigError> {
    let mut tests: BTreeMap<String, FloodTest> =
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
    let found = tests.keys().cloned().collect::<Vec<_>>().join(", ");
    let test = tests
        .remove(section)
        .ok_or_else(|| ConfigError::NoSection {
            path: path.to_owned(),
            section: section.to_owned(),
            found,
        })?;
    test.options(section)
        .map_err(|reason| ConfigError::Invalid {
            path: path.to_owned(),
            section: section.to_owned(),
            reason,
        })
}

fn percentage(key: &str, value: f64) -> Result<f64, String> {
    if (0.0..=100.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{key} = {value} is not between 0 and 100"))
    }
}

fn interval(key: &str, text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| format!("{key}: {e}"))
}

/// Reads `md5` or `sha1` (any case; empty is md5).
pub fn hmac_hash(text: &str) -> Result<HmacHashFunction, String> {
    match text.to_ascii_lowercase().as_str() {
        "" | "md5" => Ok(HmacHashFunction::Md5),
        "sha1" => Ok(HmacHashFunction::Sha1),
        other => Err(format!("unknown hmac_hash {other:?} (md5 or sha1)")),
    }
}

impl FloodTest {
    /// The run this table describes, named `section`.
    pub fn options(self, section: &str) -> Result<Options, String> {
        match self.sender.as_str() {
            "tcp" => {}
            "udp" => {
                return Err(
                    "sender \"udp\" is not supported: this heka-flood sends over TCP only".into(),
                );
            }
            other => return Err(format!("unknown sender {other:?} (tcp)")),
        }
        if !matches!(self.encoder.as_str(), "" | "protobuf") {
            return Err(format!(
                "encoder {:?} is not supported (protobuf only)",
                self.encoder
            ));
        }
        if self.use_tls {
            return Err("use_tls is not supported: this heka-flood sends over plain TCP".into());
        }
        let signed_percentage = percentage("signed_percentage", self.signed_percentage)?;
        let signer = if self.signer.name.is_empty() {
            if signed_percentage > 0.0 {
                return Err(format!(
                    "signed_percentage needs a [{section}.signer] table with a name"
                ));
            }
            None
        } else {
            Some(SigningKey {
                signer: self.signer.name,
                version: self.signer.version,
                hash: hmac_hash(&self.signer.hmac_hash)?,
                key: self.signer.hmac_key.into_bytes(),
            })
        };
        let max_message_size = match self.max_message_size {
            0 => DEFAULT_MAX_MESSAGE_SIZE,
            n => n as usize,
        };
        let payload_size = usize::try_from(self.static_message_size)
            .map_err(|_| "static_message_size is too large".to_owned())?;
        Ok(Options {
            address: self.ip_address,
            num_messages: self.num_messages,
            duration: None,
            message_interval: interval("message_interval", &self.message_interval)?,
            reconnect_interval: if self.reconnect_on_error {
                Some(interval("reconnect_interval", &self.reconnect_interval)?)
            } else {
                None
            },
            profile: Profile {
                payload_size,
                variable_size: self.variable_size_messages,
                ascii_only: self.ascii_only,
                corrupt_percentage: percentage("corrupt_percentage", self.corrupt_percentage)?,
                signed_percentage,
                oversized_percentage: percentage(
                    "oversized_percentage",
                    self.oversized_percentage,
                )?,
                signer,
                max_message_size,
                test_name: section.to_owned(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, section: &str) -> Result<Options, ConfigError> {
        parse(text, Path::new("flood.toml"), section)
    }

    #[test]
    fn a_full_table_reads() {
        let o = load(
            r#"
[default]
ip_address = "10.0.0.1:5565"
sender = "tcp"
pprof_file = ""
encoder = "protobuf"
num_messages = 1000
message_interval = "10ms"
corrupt_percentage = 1
signed_percentage = 0.5
oversized_percentage = 0.0
variable_size_messages = true
static_message_size = 300
ascii_only = true
max_message_size = 4096
reconnect_on_error = true
reconnect_interval = "2s"
[default.signer]
name = "test"
hmac_hash = "SHA1"
hmac_key = "secret"
version = 3

[other]
"#,
            "default",
        )
        .unwrap();
        assert_eq!(o.address, "10.0.0.1:5565");
        assert_eq!(o.num_messages, 1000);
        assert_eq!(o.message_interval, Duration::from_millis(10));
        assert_eq!(o.reconnect_interval, Some(Duration::from_secs(2)));
        let p = &o.profile;
        assert_eq!(p.corrupt_percentage, 1.0);
        assert_eq!(p.signed_percentage, 0.5);
        assert!(p.variable_size && p.ascii_only);
        assert_eq!((p.payload_size, p.max_message_size), (300, 4096));
        assert_eq!(
            p.signer,
            Some(SigningKey {
                signer: "test".into(),
                version: 3,
                hash: HmacHashFunction::Sha1,
                key: b"secret".to_vec(),
            })
        );
        assert_eq!(p.test_name, "default");
    }

    #[test]
    fn an_empty_table_takes_the_defaults() {
        let o = load("[t]\n", "t").unwrap();
        assert_eq!(o.address, super::super::DEFAULT_ADDRESS);
        assert_eq!(o.num_messages, 0);
        assert_eq!(o.message_interval, Duration::ZERO);
        assert_eq!(o.reconnect_interval, None);
        assert_eq!(o.profile.max_message_size, DEFAULT_MAX_MESSAGE_SIZE);
        assert_eq!(o.profile.payload_size, 64);
    }

    #[test]
    fn mistakes_name_the_line_or_the_key() {
        let e = load("[t]\nnum_messages = 1\nbogus_key = 2\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("flood.toml: "), "{e}");
        assert!(e.contains("line 3") && e.contains("bogus_key"), "{e}");
        let e = load("[t]\n[t.signer]\nnom = \"x\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("nom"), "{e}");
        // A bad key in a table not selected still fails, as in Heka.
        assert!(load("[t]\n[u]\nbogus = 1\n", "t").is_err());
        let e = load("[t]\n", "x").unwrap_err().to_string();
        assert!(e.contains("no test section [x] (found: t)"), "{e}");
        for (text, needle) in [
            ("[t]\nsender = \"udp\"\n", "\"udp\" is not supported"),
            ("[t]\nsender = \"x\"\n", "unknown sender"),
            ("[t]\nencoder = \"json\"\n", "encoder \"json\""),
            ("[t]\nuse_tls = true\n", "use_tls"),
            ("[t]\ncorrupt_percentage = 101\n", "corrupt_percentage"),
            ("[t]\nmessage_interval = \"5\"\n", "message_interval"),
            ("[t]\nsigned_percentage = 5\n", "[t.signer]"),
            (
                "[t]\n[t.signer]\nname = \"a\"\nhmac_hash = \"sha256\"\n",
                "sha256",
            ),
        ] {
            let e = load(text, "t").unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
