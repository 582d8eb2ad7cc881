//! `hekad queue inspect DIR` and `hekad queue verify DIR`: read a buffered
//! plugin's disk queue folder (`<base_dir>/output_queue/<name>`) without
//! running anything. `inspect` prints its segments, checkpoint and what is
//! pending; `verify` walks every record of every segment and prints each
//! corrupt range with its file and byte offset. Exit status: 0 fine, 1
//! corruption found (verify) or the folder is unreadable, 2 bad usage.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use heka_actors::queue::inspect::{inspect, verify};
use heka_proto::framing::DEFAULT_MAX_MESSAGE_SIZE;

const USAGE: &str = "usage: hekad queue inspect DIR | hekad queue verify DIR";

/// Largest message the tools accept: hekad's largest allowed
/// `max_message_size` is not known here, so be generous (as heka-cat is).
const MAX_MESSAGE_SIZE: usize = 64 * DEFAULT_MAX_MESSAGE_SIZE;

/// Runs `hekad queue ARGS` (the words after `queue`).
pub fn main(args: Vec<OsString>) -> ExitCode {
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let (command, dir) = match words.as_slice() {
        [command, dir] => (command.as_str(), Path::new(dir)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        "inspect" => print_inspection(dir),
        "verify" => print_verification(dir),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("hekad queue {command}: {err}");
            ExitCode::from(1)
        }
    }
}

fn print_inspection(dir: &Path) -> Result<ExitCode, heka_actors::queue::QueueError> {
    let seen = inspect(dir, MAX_MESSAGE_SIZE)?;
    println!("queue: {}", dir.display());
    println!("segments: {}", seen.segments.len());
    for (id, size) in &seen.segments {
        println!("  {id}.log  {size} bytes");
    }
    match &seen.checkpoint {
        Ok(Some(at)) => println!("checkpoint: {at}"),
        Ok(None) => println!("checkpoint: none"),
        Err(err) => println!("checkpoint: unreadable ({err})"),
    }
    println!("resume at: {}", seen.resume);
    println!(
        "pending: {} records, {} bytes",
        seen.pending_records, seen.pending_bytes
    );
    Ok(ExitCode::SUCCESS)
}

fn print_verification(dir: &Path) -> Result<ExitCode, heka_actors::queue::QueueError> {
    let found = verify(dir, MAX_MESSAGE_SIZE)?;
    for bad in &found.corrupt {
        println!(
            "corrupt: {} offset {} length {}: {}",
            bad.file.display(),
            bad.offset,
            bad.len,
            bad.reason
        );
    }
    println!(
        "{} records, {} corrupt ranges",
        found.records,
        found.corrupt.len()
    );
    Ok(if found.corrupt.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
