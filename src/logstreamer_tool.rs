//! heka-logstreamer: checks LogstreamerInput configurations offline. It
//! loads a hekad config (file or directory) with hekad's own loader, and
//! for every section of type LogstreamerInput prints the streams a scan
//! finds now and each stream's files in the order the input would read
//! them (oldest first), plus warnings: file names whose sort groups do not
//! convert, directories it cannot read.
//!
//! `heka-logstreamer -config FILE_OR_DIR`
//!
//! Exit status: 0 done (also when no section or no file matched), 1 bad
//! usage or a config error.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use heka_actors::config::{Config, PluginSpec};

use crate::flags::{self, Flag, FlagError};
use crate::plugins::logstreamer::config::{Settings, TYPE_NAME};
use crate::plugins::logstreamer::scan::scan;

const CONFIG: Flag = Flag {
    name: "config",
    boolean: false,
    default: "/etc/hekad.toml",
    help: "hekad config file or directory of *.toml files",
};

/// Every flag of heka-logstreamer.
pub const FLAGS: &[Flag] = &[CONFIG];

const SYNOPSIS: &str = "heka-logstreamer -config FILE_OR_DIR";

/// Why heka-logstreamer stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// `-h` or `-help`.
    #[error("{}", flags::usage(SYNOPSIS, FLAGS))]
    Help,
    /// The command line does not fit.
    #[error("{0}\n{usage}", usage = flags::usage(SYNOPSIS, FLAGS))]
    Usage(String),
    /// The config does not load, or a LogstreamerInput section is invalid.
    #[error("{0}")]
    Config(String),
}

impl ToolError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            ToolError::Help => 0,
            _ => 1,
        }
    }
}

/// Reads the command line (without the program name): the config path.
pub fn options(args: impl IntoIterator<Item = OsString>) -> Result<PathBuf, ToolError> {
    let args = flags::parse(FLAGS, args).map_err(|e| match e {
        FlagError::Help => ToolError::Help,
        e => ToolError::Usage(e.to_string()),
    })?;
    if let Some(extra) = args.positional.first() {
        return Err(ToolError::Usage(format!(
            "unexpected argument {:?}",
            extra.to_string_lossy()
        )));
    }
    let path = args
        .text(&CONFIG)
        .map_err(|e| ToolError::Usage(e.to_string()))?;
    Ok(PathBuf::from(path))
}

/// The report for every LogstreamerInput section of `config`; an invalid
/// section is an error (all of them are named).
pub fn report(config: &Config) -> Result<String, ToolError> {
    let sections: Vec<&PluginSpec> = config
        .plugins
        .iter()
        .filter(|p| p.type_name == TYPE_NAME)
        .collect();
    if sections.is_empty() {
        return Ok(format!("No {TYPE_NAME} sections found.\n"));
    }
    let mut errors = Vec::new();
    let mut out = String::new();
    for spec in sections {
        match Settings::from_spec(spec, &config.globals) {
            Ok(settings) => section(&mut out, &spec.name, &settings),
            Err(err) => errors.push(err.to_string()),
        }
    }
    match errors.is_empty() {
        true => Ok(out),
        false => Err(ToolError::Config(errors.join("\n"))),
    }
}

/// One section's streams and files.
fn section(out: &mut String, name: &str, settings: &Settings) {
    let found = scan(
        &settings.log_directory,
        &settings.pattern,
        settings.oldest_duration,
        SystemTime::now(),
    );
    let dir = settings.log_directory.display();
    let _ = writeln!(
        out,
        "[{name}] {} stream(s) found under {dir}",
        found.streams.len()
    );
    for (stream, files) in &found.streams {
        let _ = writeln!(
            out,
            "\nStream: {stream}\n{} file(s), in read order (oldest first):",
            files.len()
        );
        for file in files {
            let _ = writeln!(out, "    {}", file.path.display());
        }
    }
    for problem in &found.problems {
        let _ = writeln!(out, "\nWarning: {problem}");
    }
    out.push('\n');
}

/// The heka-logstreamer program: parse, load, print.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let run = || -> Result<String, ToolError> {
        let path = options(args)?;
        let config = Config::load(&path).map_err(|e| ToolError::Config(e.to_string()))?;
        report(&config)
    };
    match run() {
        Ok(text) => {
            let _ = io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e @ ToolError::Help) => {
            let _ = writeln!(io::stderr().lock(), "{e}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(io::stderr().lock(), "heka-logstreamer: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn sections_print_streams_and_files_in_read_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "app.log",
            "app.log.1",
            "app.log.2",
            "other.txt",
            "bad.log.x",
        ] {
            std::fs::write(dir.path().join(name), "x\n").unwrap();
        }
        let text = format!(
            "[app]\ntype = \"LogstreamerInput\"\nlog_directory = \"{}\"\n\
             file_match = 'app\\.log\\.?(?P<Seq>\\d*)'\npriority = [\"^Seq\"]\n\
             [bad]\ntype = \"LogstreamerInput\"\nlog_directory = \"{0}\"\n\
             file_match = 'bad\\.log\\.(?P<Seq>.*)'\npriority = [\"Seq\"]\n",
            dir.path().display()
        );
        let config = Config::from_str(&text, Path::new("t.toml")).unwrap();
        let out = report(&config).unwrap();
        let d = dir.path().display();
        let expected = format!(
            "Stream: app\n3 file(s), in read order (oldest first):\n    {d}/app.log.2\n    {d}/app.log.1\n    {d}/app.log\n"
        );
        assert!(out.contains(&expected), "{out}");
        assert!(out.contains("[bad] 1 stream(s)"), "{out}");
        assert!(
            out.contains("Warning:") && out.contains("bad.log.x"),
            "{out}"
        );
    }

    #[test]
    fn an_invalid_section_is_a_config_error() {
        let text = "[app]\ntype = \"LogstreamerInput\"\nfile_match = '('\n";
        let config = Config::from_str(text, Path::new("t.toml")).unwrap();
        let err = report(&config).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().contains("file_match"), "{err}");
        let none = Config::from_str("[x]\ntype = \"TcpInput\"\n", Path::new("t.toml")).unwrap();
        assert!(report(&none).unwrap().starts_with("No LogstreamerInput"));
    }
}
