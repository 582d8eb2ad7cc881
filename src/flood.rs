//! heka-flood: a load generator that sends framed Heka messages over TCP as
//! fast as the receiver reads them (or at a fixed interval), optionally
//! signed, corrupted or oversized, to test hekad's inputs and splitters.
//!
//! Heka's form reads a test table from a TOML file ([`config`]):
//! `heka-flood -config flood.toml -test NAME`. For quick runs the same
//! settings have flags, used without a file:
//! `heka-flood -address 127.0.0.1:5565 -num 1000000 -size 200`. When a file
//! is used, flags given as well override it.
//!
//! Records are made once ([`records`]) and written in cycles of about
//! 256 KiB with a blocking socket, so sending costs a `write` per cycle,
//! not an encode per message. Progress goes to stderr once a second; the
//! end prints Heka's `Sent N messages. X msg/sec Y Mbit/sec` and a MB/sec
//! line on stdout. Exit status: 0 done, 1 bad usage or config, 2 the
//! address could not be reached or a send failed (without
//! `reconnect_on_error`).

pub mod config;
pub mod records;
mod send;

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use heka_proto::signing::SigningKey;

use self::config::ConfigError;
use self::records::{Profile, RecordError};
pub use self::send::{Summary, run};
use crate::flags::{self, Flag, FlagError};
use heka_actors::config::parse_duration;

/// Where messages go unless told otherwise (hekad's TcpInput port).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:5565";

const CONFIG: Flag = Flag {
    name: "config",
    boolean: false,
    default: "flood.toml",
    help: "TOML file of test tables (read when -config or -test is given)",
};
const TEST: Flag = Flag {
    name: "test",
    boolean: false,
    default: "default",
    help: "the table of the config file to run",
};
const ADDRESS: Flag = Flag {
    name: "address",
    boolean: false,
    default: DEFAULT_ADDRESS,
    help: "host:port to send to (ip_address)",
};
const NUM: Flag = Flag {
    name: "num",
    boolean: false,
    default: "0",
    help: "messages to send; 0: until -duration ends, or forever (num_messages)",
};
const DURATION: Flag = Flag {
    name: "duration",
    boolean: false,
    default: "0",
    help: "stop after this long, as a Go duration (\"10s\"); 0: no limit",
};
const SIZE: Flag = Flag {
    name: "size",
    boolean: false,
    default: "64",
    help: "payload bytes per message (static_message_size)",
};
const VARIABLE: Flag = Flag {
    name: "variable",
    boolean: true,
    default: "false",
    help: "random payload sizes from 0 to twice -size (variable_size_messages)",
};
const ASCII: Flag = Flag {
    name: "ascii",
    boolean: true,
    default: "false",
    help: "printable ASCII payloads instead of random bytes (ascii_only)",
};
const SIGN: Flag = Flag {
    name: "sign",
    boolean: false,
    default: "",
    help: "sign every message, given as signer:version:md5|sha1:key",
};
const INTERVAL: Flag = Flag {
    name: "interval",
    boolean: false,
    default: "0",
    help: "pause between messages, as a Go duration (message_interval)",
};

/// Every flag of heka-flood, in help order.
pub const FLAGS: &[Flag] = &[
    CONFIG, TEST, ADDRESS, NUM, DURATION, SIZE, VARIABLE, ASCII, SIGN, INTERVAL,
];

const SYNOPSIS: &str = "heka-flood [-config flood.toml -test NAME] [flags]";

/// A whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `host:port` to send to.
    pub address: String,
    /// Messages to send (0: no limit).
    pub num_messages: u64,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Pause after each message (zero: send in bulk).
    pub message_interval: Duration,
    /// Reconnect after this pause when a send fails (`None`: stop).
    pub reconnect_interval: Option<Duration>,
    /// The records.
    pub profile: Profile,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            address: DEFAULT_ADDRESS.into(),
            num_messages: 0,
            duration: None,
            message_interval: Duration::ZERO,
            reconnect_interval: None,
            profile: Profile::default(),
        }
    }
}

/// Why heka-flood stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FloodError {
    /// `-h` or `-help`.
    #[error("{}", flags::usage(SYNOPSIS, FLAGS))]
    Help,
    /// The command line does not fit.
    #[error("{0}\n{usage}", usage = flags::usage(SYNOPSIS, FLAGS))]
    Usage(String),
    /// The config file cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The records cannot be made.
    #[error(transparent)]
    Records(#[from] RecordError),
    /// No connection could be made.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// The address given.
        address: String,
        /// Why.
        source: io::Error,
    },
    /// A send failed and reconnecting is off.
    #[error("cannot send to {address}: {source}")]
    Send {
        /// The address given.
        address: String,
        /// Why.
        source: io::Error,
        /// What was sent before.
        summary: Summary,
    },
}

impl FloodError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            FloodError::Help => 0,
            FloodError::Usage(_) | FloodError::Config(_) | FloodError::Records(_) => 1,
            FloodError::Connect { .. } | FloodError::Send { .. } => 2,
        }
    }
}

/// Reads `signer:version:md5|sha1:key` (the key may contain `:`).
pub fn parse_sign(spec: &str) -> Result<SigningKey, String> {
    let mut parts = spec.splitn(4, ':');
    let (Some(signer), Some(version), Some(hash), Some(key)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("{spec:?} is not signer:version:md5|sha1:key"));
    };
    if signer.is_empty() {
        return Err(format!("{spec:?} has no signer name"));
    }
    Ok(SigningKey {
        signer: signer.to_owned(),
        version: version
            .parse()
            .map_err(|e| format!("key version {version:?}: {e}"))?,
        hash: config::hmac_hash(hash)?,
        key: key.as_bytes().to_vec(),
    })
}

/// Reads the command line (without the program name), and the config file
/// when `-config` or `-test` is given.
pub fn options(args: impl IntoIterator<Item = OsString>) -> Result<Options, FloodError> {
    let args = flags::parse(FLAGS, args).map_err(|e| match e {
        FlagError::Help => FloodError::Help,
        e => FloodError::Usage(e.to_string()),
    })?;
    let usage = |e: FlagError| FloodError::Usage(e.to_string());
    let invalid = |flag: &Flag, value: String, reason: String| {
        usage(FlagError::Invalid {
            name: flag.name.to_owned(),
            value,
            reason,
        })
    };
    if let Some(extra) = args.positional.first() {
        return Err(FloodError::Usage(format!(
            "unexpected argument {:?}",
            extra.to_string_lossy()
        )));
    }
    let mut opts = if args.is_set(&CONFIG) || args.is_set(&TEST) {
        let path = args.raw(&CONFIG);
        config::load(Path::new(&path), &args.text(&TEST).map_err(usage)?)?
    } else {
        Options::default()
    };
    if args.is_set(&ADDRESS) {
        opts.address = args.text(&ADDRESS).map_err(usage)?;
    }
    if args.is_set(&NUM) {
        opts.num_messages = args.value(&NUM).map_err(usage)?;
    }
    if args.is_set(&DURATION) {
        let text = args.text(&DURATION).map_err(usage)?;
        let limit = parse_duration(&text).map_err(|e| invalid(&DURATION, text, e))?;
        opts.duration = Some(limit).filter(|d| !d.is_zero());
    }
    if args.is_set(&INTERVAL) {
        let text = args.text(&INTERVAL).map_err(usage)?;
        opts.message_interval = parse_duration(&text).map_err(|e| invalid(&INTERVAL, text, e))?;
    }
    let profile = &mut opts.profile;
    if args.is_set(&SIZE) {
        profile.payload_size = args.value(&SIZE).map_err(usage)?;
    }
    if args.is_set(&VARIABLE) {
        profile.variable_size = args.switch(&VARIABLE);
    }
    if args.is_set(&ASCII) {
        profile.ascii_only = args.switch(&ASCII);
    }
    if args.is_set(&SIGN) {
        let text = args.text(&SIGN).map_err(usage)?;
        profile.signer = Some(parse_sign(&text).map_err(|reason| invalid(&SIGN, text, reason))?);
        profile.signed_percentage = 100.0;
    }
    Ok(opts)
}

/// The heka-flood program: parse, send, report, exit.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let mut stderr = io::stderr();
    let result = options(args).and_then(|opts| run(&opts, &mut stderr));
    let summary = match &result {
        Ok(summary) | Err(FloodError::Send { summary, .. }) => Some(summary),
        Err(_) => None,
    };
    if let Some(summary) = summary {
        let _ = writeln!(io::stdout().lock(), "{summary}");
    }
    match result {
        Ok(_) => ExitCode::SUCCESS,
        // The usage text is printed as is, without the program's name.
        Err(e @ FloodError::Help) => {
            let _ = writeln!(stderr, "{e}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(stderr, "heka-flood: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use heka_proto::HmacHashFunction;

    use super::*;

    fn opts(list: &[&str]) -> Result<Options, FloodError> {
        options(list.iter().map(OsString::from))
    }

    #[test]
    fn without_a_file_the_flags_describe_the_run() {
        assert_eq!(opts(&[]).unwrap(), Options::default());
        let o = opts(&[
            "-address=h:1",
            "-num",
            "5",
            "--duration=1m",
            "-size=10",
            "-variable",
            "-ascii",
            "-sign",
            "ops:2:sha1:k:ey",
            "-interval=5ms",
        ])
        .unwrap();
        assert_eq!(o.address, "h:1");
        assert_eq!(o.num_messages, 5);
        assert_eq!(o.duration, Some(Duration::from_secs(60)));
        assert_eq!(o.message_interval, Duration::from_millis(5));
        let p = &o.profile;
        assert_eq!(p.payload_size, 10);
        assert!(p.variable_size && p.ascii_only);
        assert_eq!(p.signed_percentage, 100.0);
        let key = p.signer.as_ref().unwrap();
        assert_eq!(
            (key.signer.as_str(), key.version, key.hash, &key.key[..]),
            ("ops", 2, HmacHashFunction::Sha1, &b"k:ey"[..])
        );
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flood.toml");
        std::fs::write(&path, "[t]\nnum_messages = 9\nip_address = \"a:1\"\n").unwrap();
        let path = path.to_str().unwrap();
        let o = opts(&["-config", path, "-test", "t", "-num", "3"]).unwrap();
        assert_eq!((o.address.as_str(), o.num_messages), ("a:1", 3));
        assert_eq!(o.profile.test_name, "t");
        // -config alone reads the "default" table.
        assert!(matches!(
            opts(&["-config", path]),
            Err(FloodError::Config(ConfigError::NoSection { .. }))
        ));
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for line in [
            &["-num=x"][..],
            &["-duration=5"],
            &["-sign=ops:1:md5"],
            &["-sign=ops:x:md5:k"],
            &["-sign=ops:1:sha256:k"],
            &["stray"],
        ] {
            let e = opts(line).unwrap_err();
            assert_eq!(e.exit_code(), 1, "{line:?}: {e}");
        }
    }

    #[test]
    fn the_summary_reads_like_heka() {
        let s = Summary {
            messages: 1000,
            bytes: 125_000,
            elapsed: Duration::from_millis(500),
        };
        assert_eq!(
            s.to_string(),
            "Sent 1000 messages. 2000.00 msg/sec 2.00 Mbit/sec\n\
             125000 bytes in 0.500 s: 0.25 MB/sec"
        );
    }
}
