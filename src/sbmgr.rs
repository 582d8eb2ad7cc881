//! heka-sbmgr: sends one SandboxManagerFilter control message (HEKA-SPEC
//! §5.8, §7), signed with the config's `[signer]`, to a hekad TcpInput.
//! Heka's flags are kept:
//!
//! `heka-sbmgr -config sbmgr.toml -action load|unload|reload
//! [-script F.lua] [-scriptconfig F.toml] [-filtername NAME]`
//!
//! The config holds `ip_address` (default 127.0.0.1:5565), `use_tls` and
//! `[tls]` (refused: this heka-sbmgr sends over plain TCP) and `[signer]`
//! with `name`, `hmac_hash` (md5 or sha1), `hmac_key` and `version`.
//! `load` and `reload` (ours) send the script as the Payload and the
//! scriptconfig's text as `Fields[config]`; `unload` sends
//! `Fields[name]` = the filtername. Exit status: 0 sent, 1 bad usage or
//! config, 2 the address could not be reached or the send failed.

use std::ffi::OsString;
use std::io::{self, Write};
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use heka_proto::framing;
use heka_proto::prost::Message as _;
use heka_proto::signing::SigningKey;
use heka_proto::{Bytes, Field, Message};
use serde::Deserialize;

use crate::flags::{self, Flag, FlagError};
use crate::flood::config::{SignerConfig, hmac_hash};
use crate::host;
use crate::inject::connect;

const CONFIG: Flag = Flag {
    name: "config",
    boolean: false,
    default: "sbmgr.toml",
    help: "the sbmgr config file (ip_address, [signer])",
};
const ACTION: Flag = Flag {
    name: "action",
    boolean: false,
    default: "load",
    help: "load, unload or reload",
};
const SCRIPT: Flag = Flag {
    name: "script",
    boolean: false,
    default: "xyz.lua",
    help: "the sandbox script file (load, reload)",
};
const SCRIPT_CONFIG: Flag = Flag {
    name: "scriptconfig",
    boolean: false,
    default: "xyz.toml",
    help: "the sandbox's TOML config file (load, reload)",
};
const FILTER_NAME: Flag = Flag {
    name: "filtername",
    boolean: false,
    default: "filter",
    help: "the filter's table name (unload)",
};

/// Every flag of heka-sbmgr, in help order.
pub const FLAGS: &[Flag] = &[CONFIG, ACTION, SCRIPT, SCRIPT_CONFIG, FILTER_NAME];

const SYNOPSIS: &str = "heka-sbmgr [flags]";

/// The control message type.
pub const CONTROL_TYPE: &str = "heka.control.sandbox";

/// The sbmgr config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SbmgrConfig {
    #[serde(default = "default_address")]
    ip_address: String,
    #[serde(default)]
    use_tls: bool,
    #[serde(default)]
    tls: toml::Table,
    #[serde(default)]
    signer: Option<SignerConfig>,
}

fn default_address() -> String {
    "127.0.0.1:5565".into()
}

/// What to send where.
#[derive(Debug, Clone)]
pub struct Options {
    /// `host:port` of the receiver.
    pub address: String,
    /// How to sign (Heka's sbmgr always had a signer; without one the
    /// message goes unsigned).
    pub signer: Option<SigningKey>,
    /// The control message.
    pub message: Message,
}

/// Why heka-sbmgr stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SbmgrError {
    /// `-h` or `-help`.
    #[error("{}", flags::usage(SYNOPSIS, FLAGS))]
    Help,
    /// The command line does not fit.
    #[error("{0}\n{usage}", usage = flags::usage(SYNOPSIS, FLAGS))]
    Usage(String),
    /// A file cannot be read or the config does not fit.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The message cannot be framed (too big).
    #[error("cannot frame the message: {0}")]
    Encode(#[from] framing::EncodeError),
    /// No connection, or the send failed.
    #[error("cannot send to {address}: {source}")]
    Send {
        /// The address given.
        address: String,
        /// Why.
        source: io::Error,
    },
}

impl SbmgrError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            SbmgrError::Help => 0,
            SbmgrError::Send { .. } => 2,
            _ => 1,
        }
    }
}

fn read(path: &Path) -> Result<String, SbmgrError> {
    std::fs::read_to_string(path).map_err(|e| SbmgrError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn signing_key(
    path: &Path,
    signer: Option<SignerConfig>,
) -> Result<Option<SigningKey>, SbmgrError> {
    let Some(signer) = signer else {
        return Ok(None);
    };
    let hash = hmac_hash(&signer.hmac_hash).map_err(|reason| SbmgrError::File {
        path: path.to_owned(),
        reason: format!("[signer] {reason}"),
    })?;
    Ok(Some(SigningKey {
        signer: signer.name,
        version: signer.version,
        hash,
        key: signer.hmac_key.into_bytes(),
    }))
}

/// Reads the command line (without the program name) and the files it
/// names.
pub fn options(args: impl IntoIterator<Item = OsString>) -> Result<Options, SbmgrError> {
    let args = flags::parse(FLAGS, args).map_err(|e| match e {
        FlagError::Help => SbmgrError::Help,
        e => SbmgrError::Usage(e.to_string()),
    })?;
    let usage = |e: FlagError| SbmgrError::Usage(e.to_string());
    if let Some(extra) = args.positional.first() {
        return Err(SbmgrError::Usage(format!(
            "unexpected argument {:?}",
            extra.to_string_lossy()
        )));
    }
    let config_path = PathBuf::from(args.text(&CONFIG).map_err(usage)?);
    let config: SbmgrConfig =
        toml::from_str(&read(&config_path)?).map_err(|e| SbmgrError::File {
            path: config_path.clone(),
            reason: e.to_string().trim_end().to_owned(),
        })?;
    if config.use_tls || !config.tls.is_empty() {
        return Err(SbmgrError::File {
            path: config_path,
            reason: "use_tls is not supported: this heka-sbmgr sends over plain TCP".into(),
        });
    }
    let mut message = Message {
        r#type: Some(Bytes::from_static(CONTROL_TYPE.as_bytes())),
        hostname: Some(host::hostname().into()),
        pid: Some(host::pid()),
        ..Message::new(host::uuid_v4(), host::now_ns())
    };
    let action = args.text(&ACTION).map_err(usage)?;
    message
        .fields
        .push(Field::string("action", action.as_str()));
    match action.as_str() {
        "load" | "reload" => {
            let script = read(Path::new(&args.text(&SCRIPT).map_err(usage)?))?;
            let script_config = read(Path::new(&args.text(&SCRIPT_CONFIG).map_err(usage)?))?;
            message.payload = Some(script.into());
            message
                .fields
                .push(Field::string("config", script_config).with_representation("toml"));
        }
        "unload" => {
            let name = args.text(&FILTER_NAME).map_err(usage)?;
            message.fields.push(Field::string("name", name));
        }
        other => {
            return Err(SbmgrError::Usage(format!(
                "invalid action {other:?}: load, unload or reload"
            )));
        }
    }
    Ok(Options {
        address: config.ip_address,
        signer: signing_key(&config_path, config.signer)?,
        message,
    })
}

/// Frames (and signs) the message and sends it.
pub fn run(opts: &Options) -> Result<(), SbmgrError> {
    let mut record = Vec::new();
    framing::encode_frame(
        &opts.message.encode_to_vec(),
        opts.signer.as_ref(),
        framing::DEFAULT_MAX_MESSAGE_SIZE,
        &mut record,
    )?;
    let send = |source| SbmgrError::Send {
        address: opts.address.clone(),
        source,
    };
    let mut stream = connect(&opts.address).map_err(send)?;
    stream.write_all(&record).map_err(send)?;
    stream.shutdown(Shutdown::Write).map_err(send)
}

/// The heka-sbmgr program: parse, send, exit.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    match options(args).and_then(|opts| run(&opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => flags::fail(
            "heka-sbmgr",
            &e,
            matches!(e, SbmgrError::Help),
            e.exit_code(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heka_proto::FieldValue;

    fn opts(dir: &Path, config: &str, list: &[&str]) -> Result<Options, SbmgrError> {
        let path = dir.join("sbmgr.toml");
        std::fs::write(&path, config).unwrap();
        let mut args = vec![OsString::from("-config"), path.into_os_string()];
        args.extend(list.iter().map(OsString::from));
        options(args)
    }

    const SIGNED: &str = "ip_address = \"127.0.0.1:1\"\n[signer]\nname = \"ops\"\nhmac_key = \"k\"\nversion = 2\nhmac_hash = \"sha1\"\n";

    #[test]
    fn load_carries_the_script_and_its_config_signed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.lua"), "-- code").unwrap();
        std::fs::write(dir.path().join("f.toml"), "[f]\ntype = \"SandboxFilter\"\n").unwrap();
        let script = dir.path().join("f.lua").display().to_string();
        let config = dir.path().join("f.toml").display().to_string();
        let o = opts(
            dir.path(),
            SIGNED,
            &["-action=load", "-script", &script, "-scriptconfig", &config],
        )
        .unwrap();
        assert_eq!(o.address, "127.0.0.1:1");
        let key = o.signer.expect("signed");
        assert_eq!((key.signer.as_str(), key.version), ("ops", 2));
        assert_eq!(key.key, b"k");
        let m = &o.message;
        assert_eq!(m.r#type.as_deref(), Some(CONTROL_TYPE.as_bytes()));
        assert_eq!(m.payload.as_deref(), Some(&b"-- code"[..]));
        assert_eq!(
            m.field_value(b"action", 0, 0),
            Some(FieldValue::String(b"load"))
        );
        assert_eq!(
            m.field_value(b"config", 0, 0),
            Some(FieldValue::String(b"[f]\ntype = \"SandboxFilter\"\n"))
        );
        assert!((host::now_ns() - m.timestamp).abs() < 5_000_000_000);
    }

    #[test]
    fn unload_names_the_filter() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path(), "", &["-action", "unload", "-filtername", "x"]).unwrap();
        assert_eq!(o.address, "127.0.0.1:5565");
        assert!(o.signer.is_none());
        assert_eq!(
            o.message.field_value(b"name", 0, 0),
            Some(FieldValue::String(b"x"))
        );
        assert!(o.message.payload.is_none());
    }

    #[test]
    fn mistakes_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let e = opts(dir.path(), "", &["-action=start"]).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("invalid action"), "{e}");
        let e = opts(dir.path(), "bogus = 1\n", &["-action=unload"]).unwrap_err();
        assert!(
            e.to_string().contains("sbmgr.toml") && e.to_string().contains("bogus"),
            "{e}"
        );
        let e = opts(dir.path(), "use_tls = true\n", &["-action=unload"]).unwrap_err();
        assert!(e.to_string().contains("use_tls"), "{e}");
        let e = opts(
            dir.path(),
            "",
            &["-action=load", "-script=/nonexistent.lua"],
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent.lua"), "{e}");
        let e = opts(
            dir.path(),
            "[signer]\nhmac_hash = \"sha9\"\n",
            &["-action=unload"],
        )
        .unwrap_err();
        assert!(e.to_string().contains("[signer]"), "{e}");
        assert!(matches!(
            options([OsString::from("-help")]),
            Err(SbmgrError::Help)
        ));
    }
}
