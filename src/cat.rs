//! heka-cat: read a file of framed Heka records (a FileOutput with
//! ProtobufEncoder, a disk queue segment, a capture), select messages with a
//! matcher and print them. Heka's flags and messages are kept:
//!
//! `heka-cat [-match EXPR] [-format txt|json|count|heka] [-output FILE]
//! [-offset BYTES] [-maxnum N] [-tail] [-max-message-size BYTES] FILE`
//!
//! Corruption is reported with its byte offset on stderr and reading goes
//! on; the run ends with `Processed: N, matched: M messages` on stderr.
//! Exit status: 0 done, 1 bad usage, 2 bad `-match`, 3 input not readable,
//! 4 output not writable, 5 offset not reachable, 6 read or write failure
//! (Heka's numbers).

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use heka_grammar::{Matcher, ParseError};
use heka_proto::MessageView;
use heka_proto::deframer::{Deframer, Event};
use heka_proto::reader::Reader;

use crate::flags::{self, Flag, FlagError};
use crate::render;

/// heka-cat's default `-max-message-size`, larger than hekad's 64 KiB so
/// that files written with a raised limit still read.
pub const DEFAULT_MAX_MESSAGE_SIZE: &str = "4194304";

const MATCH: Flag = Flag {
    name: "match",
    boolean: false,
    default: "TRUE",
    help: "message_matcher expression selecting the messages to print",
};
const FORMAT: Flag = Flag {
    name: "format",
    boolean: false,
    default: "txt",
    help: "output format: txt, json, count or heka (framed records, byte for byte)",
};
const OUTPUT: Flag = Flag {
    name: "output",
    boolean: false,
    default: "",
    help: "output file (default: standard output)",
};
const OFFSET: Flag = Flag {
    name: "offset",
    boolean: false,
    default: "0",
    help: "byte offset in FILE to start reading at",
};
const MAXNUM: Flag = Flag {
    name: "maxnum",
    boolean: false,
    default: "0",
    help: "stop after printing this many matching messages (0: no limit)",
};
const TAIL: Flag = Flag {
    name: "tail",
    boolean: true,
    default: "false",
    help: "at the end of FILE, wait for more records instead of exiting",
};
const MAX_MESSAGE_SIZE: Flag = Flag {
    name: "max-message-size",
    boolean: false,
    default: DEFAULT_MAX_MESSAGE_SIZE,
    help: "largest message accepted, in bytes",
};

/// Every flag of heka-cat, in help order.
pub const FLAGS: &[Flag] = &[
    MATCH,
    FORMAT,
    OUTPUT,
    OFFSET,
    MAXNUM,
    TAIL,
    MAX_MESSAGE_SIZE,
];

const SYNOPSIS: &str = "heka-cat [flags] FILE";

/// How matching messages are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Headers and fields, readably.
    Txt,
    /// One JSON object per line.
    Json,
    /// Only the number of matching messages.
    Count,
    /// The framed records themselves, byte for byte.
    Heka,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "txt" => Ok(Format::Txt),
            "json" => Ok(Format::Json),
            "count" => Ok(Format::Count),
            "heka" => Ok(Format::Heka),
            other => Err(format!(
                "unknown format {other:?} (txt, json, count or heka)"
            )),
        }
    }
}

/// What heka-cat was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Selects the messages to print.
    pub matcher: Matcher,
    /// How to print them.
    pub format: Format,
    /// Where (standard output when `None`).
    pub output: Option<PathBuf>,
    /// Keep waiting for records at the end of the file.
    pub tail: bool,
    /// Where to start reading.
    pub offset: u64,
    /// Stop after this many matching messages (0: no limit).
    pub maxnum: u64,
    /// Largest message accepted.
    pub max_message_size: usize,
    /// The file to read.
    pub input: PathBuf,
}

/// Why heka-cat stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatError {
    /// `-h` or `-help`: the usage text was asked for.
    #[error("{}", flags::usage(SYNOPSIS, FLAGS))]
    Help,
    /// The command line does not fit.
    #[error("{0}\n{usage}", usage = flags::usage(SYNOPSIS, FLAGS))]
    Usage(String),
    /// `-match` does not compile.
    #[error("Match specification - {0}")]
    Match(#[from] ParseError),
    /// The input cannot be opened.
    #[error("cannot open {path}: {source}", path = .path.display())]
    Open {
        /// The input.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The output cannot be created.
    #[error("cannot create {path}: {source}", path = .path.display())]
    Output {
        /// The output.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The start offset cannot be reached.
    #[error("cannot seek to offset {offset}: {source}")]
    Seek {
        /// The requested offset.
        offset: u64,
        /// Why.
        source: io::Error,
    },
    /// Reading failed.
    #[error("read error at offset {offset}: {source}")]
    Read {
        /// Where.
        offset: u64,
        /// Why.
        source: io::Error,
    },
    /// Writing the output failed.
    #[error("write error: {0}")]
    Write(io::Error),
}

impl CatError {
    /// The process exit status for this error (Heka's numbers).
    pub fn exit_code(&self) -> u8 {
        match self {
            CatError::Help => 0,
            CatError::Usage(_) => 1,
            CatError::Match(_) => 2,
            CatError::Open { .. } => 3,
            CatError::Output { .. } => 4,
            CatError::Seek { .. } => 5,
            CatError::Read { .. } | CatError::Write(_) => 6,
        }
    }
}

/// What a run saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records read.
    pub processed: u64,
    /// Records whose message matched.
    pub matched: u64,
    /// Records whose message did not decode.
    pub undecodable: u64,
    /// Runs of corrupt bytes skipped.
    pub corruptions: u64,
}

/// Reads the command line (without the program name).
pub fn options(args: impl IntoIterator<Item = OsString>) -> Result<Options, CatError> {
    let args = flags::parse(FLAGS, args).map_err(|e| match e {
        FlagError::Help => CatError::Help,
        e => CatError::Usage(e.to_string()),
    })?;
    let usage = |e: FlagError| CatError::Usage(e.to_string());
    let [input] = <[OsString; 1]>::try_from(args.positional.clone())
        .map_err(|_| CatError::Usage("exactly one input FILE is needed".into()))?;
    Ok(Options {
        matcher: Matcher::compile(&args.text(&MATCH).map_err(usage)?)?,
        format: args.value(&FORMAT).map_err(usage)?,
        output: Some(args.raw(&OUTPUT))
            .filter(|o| !o.is_empty())
            .map(PathBuf::from),
        tail: args.switch(&TAIL),
        offset: args.value(&OFFSET).map_err(usage)?,
        maxnum: args.value(&MAXNUM).map_err(usage)?,
        max_message_size: args.value(&MAX_MESSAGE_SIZE).map_err(usage)?,
        input: PathBuf::from(input),
    })
}

/// How long `-tail` waits before looking for more data.
const TAIL_POLL: Duration = Duration::from_millis(200);

/// Runs heka-cat; diagnostics go to `diag` (standard error in the binary).
pub fn run(opts: &Options, diag: &mut dyn Write) -> Result<Summary, CatError> {
    let mut file = File::open(&opts.input).map_err(|source| CatError::Open {
        path: opts.input.clone(),
        source,
    })?;
    let mut out: Box<dyn Write> = match &opts.output {
        Some(path) => Box::new(BufWriter::new(File::create(path).map_err(|source| {
            CatError::Output {
                path: path.clone(),
                source,
            }
        })?)),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    file.seek(SeekFrom::Start(opts.offset))
        .map_err(|source| CatError::Seek {
            offset: opts.offset,
            source,
        })?;
    let deframer = Deframer::new(opts.max_message_size).with_offset(opts.offset);
    let mut reader = Reader::new(file, deframer);
    let mut summary = Summary::default();
    // Diagnostics are best effort: a closed stderr must not stop the run.
    loop {
        let event = match reader.next_event() {
            Ok(Some(event)) => event,
            Ok(None) if opts.tail && opts.format != Format::Count => {
                out.flush().map_err(CatError::Write)?;
                std::thread::sleep(TAIL_POLL);
                continue;
            }
            Ok(None) => match reader.finish() {
                Some(event) => event,
                None => break,
            },
            Err(source) => {
                return Err(CatError::Read {
                    offset: reader.offset(),
                    source,
                });
            }
        };
        match event {
            Event::Record(record) => {
                summary.processed += 1;
                let msg = match MessageView::decode(record.message.clone()) {
                    Ok(msg) => msg,
                    Err(e) => {
                        summary.undecodable += 1;
                        let _ = writeln!(
                            diag,
                            "Error unmarshalling message at offset: {} error: {e}",
                            record.offset
                        );
                        continue;
                    }
                };
                if !opts.matcher.matches(&msg) {
                    continue;
                }
                summary.matched += 1;
                let written = match opts.format {
                    Format::Count => Ok(()),
                    Format::Txt => out.write_all(render::txt(&msg.to_message()).as_bytes()),
                    Format::Json => writeln!(out, "{}", render::json(&msg.to_message())),
                    Format::Heka => out.write_all(&record.framed),
                };
                written.map_err(CatError::Write)?;
                if opts.maxnum != 0 && summary.matched >= opts.maxnum {
                    break;
                }
            }
            Event::Corrupt {
                offset,
                len,
                reason,
            } => {
                summary.corruptions += 1;
                let _ = writeln!(
                    diag,
                    "Corruption detected at offset: {offset} bytes: {len} ({reason})"
                );
            }
            Event::Rejected { offset, error, .. } => {
                // Not produced: heka-cat reads without authentication.
                let _ = writeln!(diag, "Rejected record at offset: {offset}: {error}");
            }
        }
    }
    if opts.format == Format::Count {
        writeln!(out, "{}", summary.matched).map_err(CatError::Write)?;
    }
    out.flush().map_err(CatError::Write)?;
    Ok(summary)
}

/// The heka-cat program: parse, run, report, exit.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let mut stderr = io::stderr().lock();
    let result = options(args).and_then(|opts| run(&opts, &mut stderr));
    match result {
        Ok(summary) => {
            let _ = writeln!(
                stderr,
                "Processed: {}, matched: {} messages",
                summary.processed, summary.matched
            );
            ExitCode::SUCCESS
        }
        // `heka-cat ... | head`: the reader went away; that is not an error.
        Err(CatError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(stderr, "{e}");
            ExitCode::from(e.exit_code())
        }
    }
}
