//! The `[hekad]` section (HEKA-SPEC §3.2, Heka's `cmd/hekad/config.go`):
//! reads each key into [`Globals`], strictly (an unknown key is an error),
//! checking types and the ranges Heka checked at startup. Also the OS
//! hostname that is the default for `hostname`.

use std::path::PathBuf;

use toml::de::DeTable;

use super::duration::parse_duration;
use super::error::{ConfigError, ErrorKind};
use super::spec::Globals;
use super::value::{Ctx, entries, integer, string, to_value, unsigned, unsigned32};

/// The section name of the globals.
pub const HEKAD: &str = "hekad";

const MAXPROCS: &str = "maxprocs";
const POOLSIZE: &str = "poolsize";
const PLUGIN_CHANSIZE: &str = "plugin_chansize";
const MAX_MESSAGE_LOOPS: &str = "max_message_loops";
const MAX_PROCESS_INJECT: &str = "max_process_inject";
const MAX_TIMER_INJECT: &str = "max_timer_inject";
const MAX_PROCESS_DURATION: &str = "max_process_duration";
const MAX_PACK_IDLE: &str = "max_pack_idle";
const BASE_DIR: &str = "base_dir";
const SHARE_DIR: &str = "share_dir";
const SAMPLE_DENOMINATOR: &str = "sample_denominator";
const PID_FILE: &str = "pid_file";
const HOSTNAME: &str = "hostname";
const MAX_MESSAGE_SIZE: &str = "max_message_size";
const LOG_FLAGS: &str = "log_flags";
const FULL_BUFFER_MAX_RETRIES: &str = "full_buffer_max_retries";
/// Ours: how long shutdown keeps retrying an output that cannot deliver.
const SHUTDOWN_TIMEOUT: &str = "shutdown_timeout";
const CPUPROF: &str = "cpuprof";
const MEMPROF: &str = "memprof";

/// Heka refused `max_message_size` values at or below this.
const MIN_MESSAGE_SIZE: u32 = 1024;

/// Reads one `[hekad]` table into `globals`, pushing one error per bad key.
pub(crate) fn apply_hekad(
    globals: &mut Globals,
    table: DeTable<'_>,
    ctx: &Ctx<'_>,
    errors: &mut Vec<ConfigError>,
) {
    for entry in entries(table, ctx.lines) {
        let result = to_value(entry.value).and_then(|v| set(globals, &entry.key, v));
        if let Err(kind) = result {
            errors.push(ctx.error(entry.line, &entry.key, kind));
        }
    }
}

fn set(g: &mut Globals, key: &str, value: toml::Value) -> Result<(), ErrorKind> {
    match key {
        MAXPROCS => g.maxprocs = maxprocs(integer(value)?),
        POOLSIZE => g.poolsize = at_least_one(integer(value)?)?,
        PLUGIN_CHANSIZE => g.plugin_chansize = at_least_one(integer(value)?)?,
        // Heka treats 0 loops as 1: a message may always be injected once.
        MAX_MESSAGE_LOOPS => g.max_message_loops = unsigned32(value)?.max(1),
        MAX_PROCESS_INJECT => g.max_process_inject = unsigned32(value)?,
        MAX_TIMER_INJECT => g.max_timer_inject = unsigned32(value)?,
        MAX_PROCESS_DURATION => g.max_process_duration = unsigned(value)?,
        MAX_PACK_IDLE => {
            g.max_pack_idle = parse_duration(&string(value)?).map_err(ErrorKind::Invalid)?
        }
        BASE_DIR => g.base_dir = PathBuf::from(string(value)?),
        SHARE_DIR => g.share_dir = PathBuf::from(string(value)?),
        SAMPLE_DENOMINATOR => {
            let n = integer(value)?;
            if n <= 0 {
                return Err(ErrorKind::Invalid(format!(
                    "must be greater than 0, got {n}"
                )));
            }
            g.sample_denominator = u32::try_from(n)
                .map_err(|_| ErrorKind::Invalid(format!("{n} is too large (max {})", u32::MAX)))?;
        }
        PID_FILE => {
            let path = string(value)?;
            g.pid_file = (!path.is_empty()).then(|| PathBuf::from(path));
        }
        HOSTNAME => g.hostname = string(value)?,
        MAX_MESSAGE_SIZE => {
            // Go cannot tell 0 from "not set", so 0 keeps the default there.
            let n = unsigned32(value)?;
            if n == 0 {
                return Ok(());
            }
            if n <= MIN_MESSAGE_SIZE {
                return Err(ErrorKind::Invalid(format!(
                    "must be greater than {MIN_MESSAGE_SIZE}, got {n}"
                )));
            }
            g.max_message_size = n;
        }
        LOG_FLAGS => g.log_flags = integer(value)?,
        FULL_BUFFER_MAX_RETRIES => g.full_buffer_max_retries = unsigned32(value)?,
        SHUTDOWN_TIMEOUT => {
            g.shutdown_timeout = parse_duration(&string(value)?).map_err(ErrorKind::Invalid)?
        }
        // Go profiler output files: accepted for compatibility, ignored.
        CPUPROF | MEMPROF => {
            string(value)?;
        }
        _ => return Err(ErrorKind::UnknownKey { hint: None }),
    }
    Ok(())
}

/// Go's `GOMAXPROCS(n)` ignores n < 1 and keeps the runtime default, the
/// number of CPUs; do the same.
fn maxprocs(n: i64) -> usize {
    match usize::try_from(n) {
        Ok(n) if n >= 1 => n,
        _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

fn at_least_one(n: i64) -> Result<usize, ErrorKind> {
    match usize::try_from(n) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(ErrorKind::Invalid(format!("must be at least 1, got {n}"))),
    }
}

/// The machine's hostname, as Go's `os.Hostname` finds it on Linux
/// (`/proc/sys/kernel/hostname`), else `/etc/hostname`, else `localhost`.
pub fn os_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::config::env::Expanded;

    fn read(text: &str) -> (Globals, Vec<ConfigError>) {
        let lines = Expanded::plain(text);
        let table = DeTable::parse(&lines.text).unwrap().into_inner();
        let ctx = Ctx {
            file: Path::new("h.toml"),
            lines: &lines,
            section: HEKAD,
        };
        let mut globals = Globals::default();
        let mut errors = Vec::new();
        apply_hekad(&mut globals, table, &ctx, &mut errors);
        (globals, errors)
    }

    #[test]
    fn every_key_is_read() {
        let (g, errors) = read(
            "maxprocs = 4\npoolsize = 10\nplugin_chansize = 5\nmax_message_loops = 0\n\
             max_process_inject = 2\nmax_timer_inject = 3\nmax_process_duration = 9\n\
             max_pack_idle = \"1m30s\"\nbase_dir = \"/b\"\nshare_dir = \"/s\"\n\
             sample_denominator = 7\npid_file = \"/p\"\nhostname = \"h\"\n\
             max_message_size = 2048\nlog_flags = 0\nfull_buffer_max_retries = 1\n\
             shutdown_timeout = \"3s\"\n\
             cpuprof = \"c\"\nmemprof = \"m\"\n",
        );
        assert_eq!(errors, vec![]);
        let want = Globals {
            maxprocs: 4,
            poolsize: 10,
            plugin_chansize: 5,
            max_message_loops: 1,
            max_process_inject: 2,
            max_timer_inject: 3,
            max_process_duration: 9,
            max_pack_idle: Duration::from_secs(90),
            base_dir: "/b".into(),
            share_dir: "/s".into(),
            sample_denominator: 7,
            pid_file: Some("/p".into()),
            hostname: "h".into(),
            max_message_size: 2048,
            log_flags: 0,
            full_buffer_max_retries: 1,
            shutdown_timeout: Duration::from_secs(3),
        };
        assert_eq!(g, want);
    }

    #[test]
    fn bad_values_are_each_reported_at_their_line() {
        let (_, errors) = read(
            "poolsize = 0\nplugin_chansize = -1\nsample_denominator = 0\n\
             max_message_size = 1024\nmax_pack_idle = \"2x\"\nlog_flags = \"3\"\n\
             maxproc = 2\nmax_timer_inject = -1\n",
        );
        let got: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.line, e.key.as_deref().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "poolsize"),
                (2, "plugin_chansize"),
                (3, "sample_denominator"),
                (4, "max_message_size"),
                (5, "max_pack_idle"),
                (6, "log_flags"),
                (7, "maxproc"),
                (8, "max_timer_inject"),
            ]
        );
        assert!(matches!(errors[6].kind, ErrorKind::UnknownKey { .. }));
        assert_eq!(
            errors[5].kind.to_string(),
            "expected an integer, found a string"
        );
    }

    #[test]
    fn zero_max_message_size_keeps_default_and_empty_pid_file_is_none() {
        let (g, errors) = read("max_message_size = 0\npid_file = \"\"\n");
        assert!(errors.is_empty());
        assert_eq!(g.max_message_size, Globals::default().max_message_size);
        assert_eq!(g.pid_file, None);
    }

    #[test]
    fn non_positive_maxprocs_means_all_cpus() {
        let (g, errors) = read("maxprocs = 0\n");
        assert!(errors.is_empty());
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(g.maxprocs, cpus);
    }

    #[test]
    fn hostname_is_never_empty() {
        let h = os_hostname();
        assert!(!h.is_empty());
        assert_eq!(h, h.trim());
    }
}
