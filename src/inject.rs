//! heka-inject: build one message from the command line and send it, framed
//! and unsigned, to a hekad TcpInput. Heka's flags are kept:
//!
//! `heka-inject [-heka ADDR] [-type T] [-logger L] [-severity N]
//! [-payload TEXT] [-pid N] [-hostname H] [-field name=value]...`
//!
//! The message gets a random v4 UUID and the current time in nanoseconds.
//! `-field` (repeatable) is an addition: each adds a string field.
//! Exit status: 0 sent, 1 bad usage (or a message over 64 KiB), 2 the
//! address could not be reached or the send failed.

use std::ffi::OsString;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use heka_proto::framing::{self, EncodeError};
use heka_proto::prost::Message as _;
use heka_proto::{Bytes, Field, Message};

use crate::flags::{self, Flag, FlagError};
use crate::host;

const HEKA: Flag = Flag {
    name: "heka",
    boolean: false,
    default: "127.0.0.1:5565",
    help: "address of the hekad TcpInput to send to",
};
const TYPE: Flag = Flag {
    name: "type",
    boolean: false,
    default: "inject.message",
    help: "message Type",
};
const LOGGER: Flag = Flag {
    name: "logger",
    boolean: false,
    default: "Inject Client",
    help: "message Logger",
};
const SEVERITY: Flag = Flag {
    name: "severity",
    boolean: false,
    default: "7",
    help: "message Severity",
};
const PAYLOAD: Flag = Flag {
    name: "payload",
    boolean: false,
    default: "",
    help: "message Payload",
};
const PID: Flag = Flag {
    name: "pid",
    boolean: false,
    default: "",
    help: "message Pid (default: heka-inject's own)",
};
const HOSTNAME: Flag = Flag {
    name: "hostname",
    boolean: false,
    default: "",
    help: "message Hostname (default: this host's name)",
};
const FIELD: Flag = Flag {
    name: "field",
    boolean: false,
    default: "",
    help: "add a string field, as name=value (repeatable)",
};

/// Every flag of heka-inject, in help order.
pub const FLAGS: &[Flag] = &[HEKA, TYPE, LOGGER, SEVERITY, PAYLOAD, PID, HOSTNAME, FIELD];

const SYNOPSIS: &str = "heka-inject [flags]";

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The message to send and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `host:port` of the receiver.
    pub address: String,
    /// Type header.
    pub msg_type: String,
    /// Logger header.
    pub logger: String,
    /// Severity header.
    pub severity: i32,
    /// Payload.
    pub payload: String,
    /// Pid header.
    pub pid: i32,
    /// Hostname header.
    pub hostname: String,
    /// String fields, in order.
    pub fields: Vec<(String, String)>,
}

/// Why heka-inject stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InjectError {
    /// `-h` or `-help`.
    #[error("{}", flags::usage(SYNOPSIS, FLAGS))]
    Help,
    /// The command line does not fit.
    #[error("{0}\n{usage}", usage = flags::usage(SYNOPSIS, FLAGS))]
    Usage(String),
    /// The message cannot be framed (too big).
    #[error("cannot frame the message: {0}")]
    Encode(#[from] EncodeError),
    /// No connection could be made.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// The address given.
        address: String,
        /// Why.
        source: io::Error,
    },
    /// The connection broke while sending.
    #[error("cannot send to {address}: {source}")]
    Send {
        /// The address given.
        address: String,
        /// Why.
        source: io::Error,
    },
}

impl InjectError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            InjectError::Help => 0,
            InjectError::Usage(_) | InjectError::Encode(_) => 1,
            InjectError::Connect { .. } | InjectError::Send { .. } => 2,
        }
    }
}

/// Reads the command line (without the program name).
pub fn options(args: impl IntoIterator<Item = OsString>) -> Result<Options, InjectError> {
    let args = flags::parse(FLAGS, args).map_err(|e| match e {
        FlagError::Help => InjectError::Help,
        e => InjectError::Usage(e.to_string()),
    })?;
    let usage = |e: FlagError| InjectError::Usage(e.to_string());
    if let Some(extra) = args.positional.first() {
        return Err(InjectError::Usage(format!(
            "unexpected argument {:?}",
            extra.to_string_lossy()
        )));
    }
    let fields = args
        .all_text(&FIELD)
        .map_err(usage)?
        .into_iter()
        .map(|f| match f.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
            _ => Err(InjectError::Usage(format!(
                "invalid value {f:?} for flag -field: expected name=value"
            ))),
        })
        .collect::<Result<_, _>>()?;
    Ok(Options {
        address: args.text(&HEKA).map_err(usage)?,
        msg_type: args.text(&TYPE).map_err(usage)?,
        logger: args.text(&LOGGER).map_err(usage)?,
        severity: args.value(&SEVERITY).map_err(usage)?,
        payload: args.text(&PAYLOAD).map_err(usage)?,
        pid: if args.is_set(&PID) {
            args.value(&PID).map_err(usage)?
        } else {
            host::pid()
        },
        hostname: if args.is_set(&HOSTNAME) {
            args.text(&HOSTNAME).map_err(usage)?
        } else {
            host::hostname()
        },
        fields,
    })
}

/// The message `opts` describes, with a fresh UUID and timestamp.
pub fn message(opts: &Options) -> Message {
    let text = |s: &str| Some(Bytes::copy_from_slice(s.as_bytes()));
    Message {
        r#type: text(&opts.msg_type),
        logger: text(&opts.logger),
        severity: Some(opts.severity),
        payload: text(&opts.payload),
        pid: Some(opts.pid),
        hostname: text(&opts.hostname),
        fields: opts
            .fields
            .iter()
            .map(|(name, value)| Field::string(name, value))
            .collect(),
        ..Message::new(host::uuid_v4(), host::now_ns())
    }
}

/// Connects to `address` (every address it resolves to, in turn).
pub fn connect(address: &str) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = address.to_socket_addrs()?.collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Builds the message and sends it; returns it as sent.
pub fn run(opts: &Options) -> Result<Message, InjectError> {
    let msg = message(opts);
    let mut record = Vec::new();
    framing::encode_frame(
        &msg.encode_to_vec(),
        None,
        framing::DEFAULT_MAX_MESSAGE_SIZE,
        &mut record,
    )?;
    let mut stream = connect(&opts.address).map_err(|source| InjectError::Connect {
        address: opts.address.clone(),
        source,
    })?;
    let send = |source| InjectError::Send {
        address: opts.address.clone(),
        source,
    };
    stream.write_all(&record).map_err(send)?;
    // A clean close tells the receiver the stream ended on a record boundary.
    stream.shutdown(Shutdown::Write).map_err(send)?;
    Ok(msg)
}

/// The heka-inject program: parse, send, exit.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    match options(args).and_then(|opts| run(&opts)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => flags::fail(
            "heka-inject",
            &e,
            matches!(e, InjectError::Help),
            e.exit_code(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Result<Options, InjectError> {
        options(list.iter().map(OsString::from))
    }

    #[test]
    fn heka_defaults_apply() {
        let o = opts(&[]).unwrap();
        assert_eq!(o.address, "127.0.0.1:5565");
        assert_eq!(o.msg_type, "inject.message");
        assert_eq!(o.logger, "Inject Client");
        assert_eq!(o.severity, 7);
        assert_eq!(o.payload, "");
        assert_eq!(o.pid, host::pid());
        assert_eq!(o.hostname, host::hostname());
        assert!(o.fields.is_empty());
    }

    #[test]
    fn flags_fill_the_message() {
        let o = opts(&[
            "-type=t",
            "--logger",
            "l",
            "-severity",
            "3",
            "-payload=p",
            "-pid=42",
            "-hostname",
            "h",
            "-field",
            "a=1",
            "-field=b=x=y",
        ])
        .unwrap();
        let m = message(&o);
        assert_eq!(m.r#type.as_deref(), Some(&b"t"[..]));
        assert_eq!(m.logger.as_deref(), Some(&b"l"[..]));
        assert_eq!(m.severity, Some(3));
        assert_eq!(m.payload.as_deref(), Some(&b"p"[..]));
        assert_eq!(m.pid, Some(42));
        assert_eq!(m.hostname.as_deref(), Some(&b"h"[..]));
        assert_eq!(
            m.fields,
            [Field::string("a", "1"), Field::string("b", "x=y")]
        );
        assert_eq!(m.uuid.len(), 16);
        assert!(m.timestamp > 0);
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for line in [
            &["-severity=x"][..],
            &["-field=novalue"],
            &["-field==v"],
            &["stray"],
            &["-bogus"],
        ] {
            let e = opts(line).unwrap_err();
            assert_eq!(e.exit_code(), 1, "{line:?}: {e}");
        }
        assert!(matches!(opts(&["-help"]), Err(InjectError::Help)));
    }
}
