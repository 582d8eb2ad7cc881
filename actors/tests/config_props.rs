//! Hostile configuration text: generated TOML documents and valid configs
//! with characters changed, cut, inserted or lines shuffled never panic the
//! loader, and every error it reports names a place the user can go to: the
//! file, a line that exists, the section (for problems inside one), and a
//! key that is written on that line.

use std::path::Path;

use heka_actors::config::{Config, ConfigError, ConfigErrors, ErrorKind};
use proptest::prelude::*;

const FILE: &str = "hostile.toml";

/// A valid config touching every reader: globals, common keys, retries,
/// sandbox config tables, env substitution, comments, inline tables.
const BASE: &str = r#"# comment
[hekad]
maxprocs = 2
poolsize = 50
max_message_size = 65536
max_pack_idle = "30s"
base_dir = "%ENV[HOME]/cache"
shutdown_timeout = "5s"

[TcpInput]
address = "127.0.0.1:5565"
splitter = "HekaFramingSplitter"
decoder = "ProtobufDecoder"
keep_alive = true

[counter]
type = "CounterFilter"
message_matcher = "Type != 'heka.counter-output' && Fields[n] >= 3"
ticker_interval = 5
can_exit = false
retries = { max_retries = 3 }

[stats]
type = "SandboxFilter"
filename = "lua_filters/stats.lua"
message_matcher = "TRUE"
  [stats.config]
  rows = 1440
  names = ["a", "b"]

[out]
type = "FileOutput"
message_matcher = "Logger =~ /^x/"
path = "/tmp/out.log"
encoder = "ProtobufEncoder"
use_framing = true
  [out.retries]
  delay = "1s"
  max_delay = "1m30s"
"#;

fn load(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_str_with_env(text, Path::new(FILE), &|name| {
        (name == "HOME").then(|| "/home/h".to_owned())
    })
}

/// The line's text, 1-based, if it exists.
fn line_of(text: &str, line: usize) -> Option<&str> {
    text.split('\n').nth(line.checked_sub(1)?)
}

/// Checks that `e` names a real place in `text`.
fn names_a_place(text: &str, e: &ConfigError) -> Result<(), TestCaseError> {
    prop_assert_eq!(&e.file, Path::new(FILE), "{}", e);
    prop_assert!(e.to_string().starts_with(FILE), "{}", e);
    match &e.kind {
        // Whole-file verdicts have no line.
        ErrorKind::Empty | ErrorKind::Io(_) => return Ok(()),
        ErrorKind::Syntax(_) => {
            // The parser may point just past the last line (unexpected end).
            let lines = text.split('\n').count();
            prop_assert!(
                e.line >= 1 && e.line <= lines + 1,
                "{} in {} lines",
                e,
                lines
            );
            return Ok(());
        }
        _ => {}
    }
    let Some(line) = line_of(text, e.line) else {
        return Err(TestCaseError::fail(format!("{e}: no line {}", e.line)));
    };
    if matches!(
        e.kind,
        ErrorKind::EnvMissingDelimiter | ErrorKind::EnvInvalidChars(_)
    ) {
        prop_assert!(line.contains("%ENV["), "{}: line {:?}", e, line);
        return Ok(());
    }
    // Everything else is about a section (and usually one of its keys).
    prop_assert!(e.section.is_some(), "{} has no section", e);
    if let Some(key) = &e.key {
        // The key, or the table it is nested in, is written on that line
        // (quoted keys keep their text; dotted keys show one part).
        let parts: Vec<&str> = key.split('.').collect();
        prop_assert!(
            parts.iter().any(|p| line.contains(p)),
            "{}: key not on line {:?}",
            e,
            line
        );
    }
    Ok(())
}

fn check(text: &str) -> Result<(), TestCaseError> {
    if let Err(errors) = load(text) {
        prop_assert!(!errors.is_empty());
        for e in errors.iter() {
            names_a_place(text, e)?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Edit {
    Set(usize, char),
    Insert(usize, String),
    Cut(usize, usize),
    SwapLines(usize, usize),
    DupLine(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![
        Just('='),
        Just('['),
        Just(']'),
        Just('"'),
        Just('\''),
        Just('\n'),
        Just('.'),
        Just('%'),
        Just('{'),
        Just(','),
        Just('#'),
        Just(' '),
        any::<char>(),
    ];
    let snippet = prop_oneof![
        Just("%ENV[".to_owned()),
        Just("%ENV[A B]".to_owned()),
        Just("\ntype = \"NoSuchKind\"\n".to_owned()),
        Just("\nunknown_key = 1\n".to_owned()),
        Just("\nmaxprocs = -1\n".to_owned()),
        Just("\nretries = 7\n".to_owned()),
        Just("\n[TcpInput]\n".to_owned()),
        Just("\n[hekad]\nmax_message_size = 10\n".to_owned()),
        Just("\nx.y.z = { a = [1, \"b\", 1979-05-27T07:32:00Z] }\n".to_owned()),
        Just("\"\"\"".to_owned()),
        "\\PC{0,12}",
    ];
    prop_oneof![
        (any::<usize>(), ch).prop_map(|(i, c)| Edit::Set(i, c)),
        (any::<usize>(), snippet).prop_map(|(i, s)| Edit::Insert(i, s)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Edit::Cut(i, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        any::<usize>().prop_map(Edit::DupLine),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let n = chars.len().max(1);
        match e {
            Edit::Set(i, c) if !chars.is_empty() => chars[i % n] = *c,
            Edit::Set(..) => {}
            Edit::Insert(i, s) => {
                let at = i % (chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
            Edit::Cut(i, len) => {
                let at = i % (chars.len() + 1);
                let end = (at + len).min(chars.len());
                chars.drain(at..end);
            }
            Edit::SwapLines(..) | Edit::DupLine(_) => {
                let s: String = chars.iter().collect();
                let mut lines: Vec<&str> = s.split('\n').collect();
                let m = lines.len();
                match e {
                    Edit::SwapLines(a, b) => lines.swap(a % m, b % m),
                    Edit::DupLine(a) => lines.insert(a % m, lines[a % m]),
                    _ => unreachable!(),
                }
                chars = lines.join("\n").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

/// A generated TOML value, rendered as text.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        Just("18446744073709551616".to_owned()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        Just("nan".to_owned()),
        Just("-inf".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        "\\PC{0,10}".prop_map(|s| format!("{s:?}")),
        Just("\"1h30m\"".to_owned()),
        Just("\"-5s\"".to_owned()),
        Just("\"TRUE\"".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((key(), inner), 0..3).prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", body.join(", "))
            }),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "type",
            "message_matcher",
            "message_signer",
            "ticker_interval",
            "can_exit",
            "decoder",
            "splitter",
            "encoder",
            "use_framing",
            "use_buffering",
            "retries",
            "synchronous_decode",
            "maxprocs",
            "poolsize",
            "plugin_chansize",
            "max_message_size",
            "max_pack_idle",
            "base_dir",
            "hostname",
            "sample_denominator",
            "shutdown_timeout",
            "address",
            "config",
            "delay",
            "max_retries",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,8}",
        "\"[^\"\\\\\n]{0,6}\"",
    ]
}

fn section() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "hekad",
            "TcpInput",
            "LogOutput",
            "ProtobufDecoder",
            "NullSplitter",
            "x",
            "counter",
            "CounterFilter",
        ])
        .prop_map(str::to_owned),
        "[A-Za-z]{1,10}",
    ];
    let body = prop::collection::vec((key(), value()), 0..6);
    (name, body, proptest::option::of(key())).prop_map(|(name, body, sub)| {
        let mut out = format!("[{name}]\n");
        for (k, v) in body {
            out.push_str(&format!("{k} = {v}\n"));
        }
        if let Some(sub) = sub {
            out.push_str(&format!("[{name}.{sub}]\nfoo = 1\n"));
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn edited_configs_never_panic_and_errors_name_their_place(
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        check(&apply(BASE, &edits))?;
    }

    #[test]
    fn generated_documents_never_panic_and_errors_name_their_place(
        sections in prop::collection::vec(section(), 0..6),
    ) {
        check(&sections.concat())?;
    }
}

#[test]
fn the_base_config_loads() {
    // Otherwise the edits above would only ever test error paths.
    let config = load(BASE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.globals.maxprocs, 2);
    assert!(config.plugin("stats").is_some());
}
