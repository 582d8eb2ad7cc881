//! Command-line flags in the style of Go's `flag` package, which Heka's tools
//! used, so Heka users' scripts keep working: `-name value`, `-name=value`,
//! `--name value`, `--name=value`, boolean flags as `-tail` or `-tail=false`,
//! and `--` to end the flags. Unlike Go, flags may also follow positional
//! arguments. A flag given twice keeps its last value, as in Go, and a
//! repeatable flag (heka-inject's `-field`) reads every value with
//! [`Args::all_text`]. Shared by every tool binary (heka-cat, heka-inject,
//! heka-flood, later heka-sbmgr and hekad itself).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::str::FromStr;

/// One flag a tool accepts.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// Name without dashes.
    pub name: &'static str,
    /// Whether it is a boolean switch (takes no separate value).
    pub boolean: bool,
    /// Default value, as text.
    pub default: &'static str,
    /// One line of help.
    pub help: &'static str,
}

/// A command line that does not fit the flags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlagError {
    /// `-h`, `-help` or `--help` was given.
    #[error("help requested")]
    Help,
    /// A flag no one defined.
    #[error("flag provided but not defined: -{0}")]
    Unknown(String),
    /// A value flag at the end of the command line.
    #[error("flag needs an argument: -{0}")]
    MissingValue(String),
    /// A value that does not parse.
    #[error("invalid value {value:?} for flag -{name}: {reason}")]
    Invalid {
        /// The flag.
        name: String,
        /// Its value.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
}

/// The parsed command line.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Every value given to each flag, in order (the last one wins for
    /// single-valued reads, as in Go).
    values: HashMap<&'static str, Vec<OsString>>,
    /// Arguments that are not flags, in order.
    pub positional: Vec<OsString>,
}

/// Parses `args` (without the program name) against `flags`.
pub fn parse(flags: &[Flag], args: impl IntoIterator<Item = OsString>) -> Result<Args, FlagError> {
    let mut out = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        let Some(body) = text.strip_prefix('-').filter(|b| !b.is_empty()) else {
            out.positional.push(arg);
            continue;
        };
        let body = body.strip_prefix('-').unwrap_or(body);
        if body.is_empty() {
            // `--` ends the flags.
            out.positional.extend(args);
            break;
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        if matches!(name, "h" | "help") {
            return Err(FlagError::Help);
        }
        let flag = flags
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| FlagError::Unknown(name.to_owned()))?;
        let value = match (inline, flag.boolean) {
            (Some(v), _) => {
                // Keep the exact bytes of the value when the argument was not UTF-8.
                let prefix = text.len() - v.len();
                if arg.to_str().is_some() {
                    OsString::from(v)
                } else {
                    os_suffix(&arg, prefix)
                }
            }
            (None, true) => OsString::from("true"),
            (None, false) => args
                .next()
                .ok_or_else(|| FlagError::MissingValue(name.to_owned()))?,
        };
        if flag.boolean {
            parse_bool(&value.to_string_lossy()).ok_or_else(|| FlagError::Invalid {
                name: name.to_owned(),
                value: value.to_string_lossy().into_owned(),
                reason: "not a boolean".into(),
            })?;
        }
        out.values.entry(flag.name).or_default().push(value);
    }
    Ok(out)
}

#[cfg(unix)]
fn os_suffix(arg: &OsString, from: usize) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    OsString::from_vec(arg.as_bytes()[from..].to_vec())
}

#[cfg(not(unix))]
fn os_suffix(arg: &OsString, from: usize) -> OsString {
    OsString::from(&arg.to_string_lossy()[from..])
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

impl Args {
    /// The raw value of a flag, or its default.
    pub fn raw(&self, flag: &Flag) -> OsString {
        self.values
            .get(flag.name)
            .and_then(|v| v.last())
            .cloned()
            .unwrap_or_else(|| OsString::from(flag.default))
    }

    /// Whether the flag was given on the command line (rather than
    /// defaulted).
    pub fn is_set(&self, flag: &Flag) -> bool {
        self.values.contains_key(flag.name)
    }

    /// Every value given to a repeatable flag, in order, as text (the
    /// default is not included).
    pub fn all_text(&self, flag: &Flag) -> Result<Vec<String>, FlagError> {
        let given = self.values.get(flag.name).map(Vec::as_slice);
        given
            .unwrap_or_default()
            .iter()
            .map(|v| {
                v.clone().into_string().map_err(|v| FlagError::Invalid {
                    name: flag.name.to_owned(),
                    value: v.to_string_lossy().into_owned(),
                    reason: "not valid UTF-8".into(),
                })
            })
            .collect()
    }

    /// The value of a flag as text, or its default.
    pub fn text(&self, flag: &Flag) -> Result<String, FlagError> {
        self.raw(flag)
            .into_string()
            .map_err(|v| FlagError::Invalid {
                name: flag.name.to_owned(),
                value: v.to_string_lossy().into_owned(),
                reason: "not valid UTF-8".into(),
            })
    }

    /// The value of a flag parsed as `T`, or its default.
    pub fn value<T: FromStr>(&self, flag: &Flag) -> Result<T, FlagError>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.text(flag)?;
        text.parse().map_err(|e: T::Err| FlagError::Invalid {
            name: flag.name.to_owned(),
            value: text.clone(),
            reason: e.to_string(),
        })
    }

    /// The value of a boolean flag.
    pub fn switch(&self, flag: &Flag) -> bool {
        parse_bool(&self.raw(flag).to_string_lossy()).unwrap_or(false)
    }
}

/// The usage text: a synopsis line, then one line per flag.
pub fn usage(synopsis: &str, flags: &[Flag]) -> String {
    let mut out = format!("Usage: {synopsis}\n");
    for f in flags {
        let arg = if f.boolean { "" } else { " VALUE" };
        let default = if f.default.is_empty() || f.boolean {
            String::new()
        } else {
            format!(" (default {:?})", f.default)
        };
        let _ = writeln!(out, "  -{}{arg}\n        {}{default}", f.name, f.help);
    }
    out
}

/// How a tool reports its error and ends: the usage text as is (status 0)
/// for `-help`, else `tool: error` on stderr with the error's status.
pub fn fail(
    tool: &str,
    error: &dyn std::fmt::Display,
    help: bool,
    code: u8,
) -> std::process::ExitCode {
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    if help {
        let _ = writeln!(stderr, "{error}");
        return std::process::ExitCode::SUCCESS;
    }
    let _ = writeln!(stderr, "{tool}: {error}");
    std::process::ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        Flag {
            name: "match",
            boolean: false,
            default: "TRUE",
            help: "matcher",
        },
        Flag {
            name: "tail",
            boolean: true,
            default: "false",
            help: "follow",
        },
        Flag {
            name: "offset",
            boolean: false,
            default: "0",
            help: "start",
        },
    ];

    fn args(list: &[&str]) -> Result<Args, FlagError> {
        parse(FLAGS, list.iter().map(OsString::from))
    }

    #[test]
    fn go_and_gnu_spellings_are_equivalent() {
        for line in [
            &["-match=Type == 'x'", "-tail", "f"][..],
            &["-match", "Type == 'x'", "-tail=true", "f"],
            &["--match", "Type == 'x'", "--tail", "f"],
            &["f", "--match=Type == 'x'", "-tail=1"],
        ] {
            let a = args(line).unwrap();
            assert_eq!(a.text(&FLAGS[0]).unwrap(), "Type == 'x'", "{line:?}");
            assert!(a.switch(&FLAGS[1]), "{line:?}");
            assert_eq!(a.positional, [OsString::from("f")], "{line:?}");
        }
    }

    #[test]
    fn defaults_apply_and_values_parse() {
        let a = args(&["f"]).unwrap();
        assert_eq!(a.text(&FLAGS[0]).unwrap(), "TRUE");
        assert!(!a.switch(&FLAGS[1]));
        assert_eq!(a.value::<u64>(&FLAGS[2]).unwrap(), 0);
        let a = args(&["-offset=12", "-tail=false"]).unwrap();
        assert_eq!(a.value::<u64>(&FLAGS[2]).unwrap(), 12);
        assert!(!a.switch(&FLAGS[1]));
        assert!(matches!(
            args(&["-offset=x"]).unwrap().value::<u64>(&FLAGS[2]),
            Err(FlagError::Invalid { .. })
        ));
    }

    #[test]
    fn mistakes_are_reported_as_go_reports_them() {
        assert_eq!(
            args(&["-bogus"]).unwrap_err().to_string(),
            "flag provided but not defined: -bogus"
        );
        assert_eq!(
            args(&["-match"]).unwrap_err().to_string(),
            "flag needs an argument: -match"
        );
        assert!(matches!(
            args(&["-tail=maybe"]),
            Err(FlagError::Invalid { .. })
        ));
        assert_eq!(args(&["--help"]).unwrap_err(), FlagError::Help);
    }

    #[test]
    fn repeated_flags_keep_every_value_and_the_last_wins() {
        let a = args(&["-match", "a", "--match=b", "-match", "c"]).unwrap();
        assert_eq!(a.text(&FLAGS[0]).unwrap(), "c");
        assert_eq!(a.all_text(&FLAGS[0]).unwrap(), ["a", "b", "c"]);
        assert!(a.is_set(&FLAGS[0]));
        assert!(!a.is_set(&FLAGS[2]));
        assert!(a.all_text(&FLAGS[2]).unwrap().is_empty());
    }

    #[test]
    fn a_double_dash_ends_the_flags() {
        let a = args(&["--", "-tail", "-"]).unwrap();
        assert_eq!(a.positional, [OsString::from("-tail"), OsString::from("-")]);
        assert!(!a.switch(&FLAGS[1]));
    }
}
