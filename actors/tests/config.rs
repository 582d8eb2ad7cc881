//! Config loading from real files: a full Heka-style config, a directory of
//! files, and every error case with its file, line, section and key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use heka_actors::config::{Category, Config, ConfigErrors, DEFAULT_INSTANCES, ErrorKind, Retries};
use serde::Deserialize;
use tempfile::TempDir;

/// Writes `files` into a fresh directory.
fn dir_with(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// Loads a single file `name` holding `text`; returns the dir (kept alive),
/// the file's path and the errors.
fn load_errors(name: &str, text: &str) -> (TempDir, PathBuf, ConfigErrors) {
    let dir = dir_with(&[(name, text)]);
    let path = dir.path().join(name);
    let errors = Config::load(&path).expect_err("config should be rejected");
    (dir, path, errors)
}

/// The one error whose display mentions `file:line:`, checked to name the
/// section and key as well.
fn assert_reported(errors: &ConfigErrors, file: &Path, line: usize, section: &str, key: &str) {
    let place = format!("{}:{line}:", file.display());
    let found = errors.iter().map(|e| e.to_string()).find(|text| {
        text.starts_with(&place)
            && text.contains(&format!("section `{section}`"))
            && text.contains(&format!("`{key}`"))
    });
    assert!(
        found.is_some(),
        "no error at {place} for section `{section}` key `{key}` in:\n{errors}"
    );
}

const FULL: &str = r#"# A Heka config as people wrote them.
[hekad]
maxprocs = 2
poolsize = 50
base_dir = "%ENV[CARGO_MANIFEST_DIR]/cache"
max_pack_idle = "30s"

[TcpInput]
address = ":5565"
splitter = "HekaFramingSplitter"
decoder = "ProtobufDecoder"

[counter]
type = "CounterFilter"
message_matcher = "Type != 'heka.counter-output'"
ticker_interval = 5
can_exit = false

[counter.retries]
delay = "1s"
max_delay = "1m30s"
max_retries = 3

[stats]
type = "SandboxFilter"
filename = "lua_filters/stats.lua"
message_matcher = "Type == 'x' && Hostname == '%ENV[HEKAD_TEST_SURELY_UNSET_VARIABLE]'"
  [stats.config]
  rows = 1440

[out]
type = "FileOutput"
message_matcher = "TRUE"
path = "/tmp/out.log"
encoder = "ProtobufEncoder"
use_framing = true
"#;

#[test]
fn full_heka_config_loads() {
    assert!(std::env::var_os("HEKAD_TEST_SURELY_UNSET_VARIABLE").is_none());
    let dir = dir_with(&[("hekad.toml", FULL)]);
    let path = dir.path().join("hekad.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));

    let g = &config.globals;
    assert_eq!((g.maxprocs, g.poolsize), (2, 50));
    assert_eq!(g.max_pack_idle, Duration::from_secs(30));
    // Cargo sets CARGO_MANIFEST_DIR for the test process.
    assert_eq!(
        g.base_dir,
        PathBuf::from(format!("{}/cache", env!("CARGO_MANIFEST_DIR")))
    );

    let names: Vec<&str> = config.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "TcpInput",
            "counter",
            "stats",
            "out",
            "ProtobufDecoder",
            "ProtobufEncoder",
            "TokenSplitter",
            "HekaFramingSplitter",
            "NullSplitter",
        ]
    );
    assert!(config.plugins[4..].iter().all(|p| p.default_instance));
    assert!(config.plugins[..4].iter().all(|p| !p.default_instance));

    let tcp = config.plugin("TcpInput").unwrap();
    assert_eq!(
        (tcp.type_name.as_str(), tcp.category),
        ("TcpInput", Category::Input)
    );
    assert_eq!(tcp.common.decoder.as_deref(), Some("ProtobufDecoder"));
    assert_eq!(tcp.location.file, path);
    assert_eq!(tcp.location.line, 8);
    assert_eq!(tcp.key_lines.get("address"), Some(&9));

    let counter = config.plugin("counter").unwrap();
    assert_eq!(counter.category, Category::Filter);
    assert_eq!(counter.common.ticker_interval, Some(5));
    assert_eq!(counter.common.can_exit, Some(false));
    assert_eq!(
        counter.common.retries,
        Retries {
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(90),
            max_jitter: Retries::default().max_jitter,
            max_retries: 3,
        }
    );
    assert!(counter.options.is_empty(), "{:?}", counter.options);

    let stats = config.plugin("stats").unwrap();
    assert_eq!(
        stats.common.message_matcher.as_deref(),
        Some("Type == 'x' && Hostname == ''")
    );
    assert_eq!(stats.key_lines.get("config"), Some(&28));
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SandboxFilterConfig {
        filename: String,
        config: toml::Table,
    }
    let sandbox: SandboxFilterConfig = stats.options().unwrap();
    assert_eq!(sandbox.filename, "lua_filters/stats.lua");
    assert_eq!(sandbox.config["rows"].as_integer(), Some(1440));

    let out = config.plugin("out").unwrap();
    assert_eq!(out.category, Category::Output);
    assert_eq!(out.common.use_framing, Some(true));
    assert_eq!(out.common.encoder.as_deref(), Some("ProtobufEncoder"));
    assert_eq!(out.options.keys().collect::<Vec<_>>(), ["path"]);
}

#[test]
fn directory_loads_toml_files_alphabetically() {
    let dir = dir_with(&[
        ("20-outputs.toml", "[LogOutput]\nmessage_matcher = 'TRUE'\n"),
        (
            "10-inputs.toml",
            "[hekad]\npoolsize = 7\n\n[udp]\ntype = 'UdpInput'\n[TokenSplitter]\ndelimiter = ';'\n",
        ),
        ("README", "this is [not toml"),
        ("old.toml.bak", "[broken"),
    ]);
    std::fs::create_dir(dir.path().join("sub.toml")).unwrap();
    let config = Config::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.globals.poolsize, 7);
    let names: Vec<(&str, bool)> = config
        .plugins
        .iter()
        .map(|p| (p.name.as_str(), p.default_instance))
        .collect();
    assert_eq!(
        names,
        [
            ("udp", false),
            ("TokenSplitter", false),
            ("LogOutput", false),
            ("ProtobufDecoder", true),
            ("ProtobufEncoder", true),
            ("HekaFramingSplitter", true),
            ("NullSplitter", true),
        ]
    );
    let log = config.plugin("LogOutput").unwrap();
    assert_eq!(log.location.file, dir.path().join("20-outputs.toml"));
    assert_eq!(log.location.line, 1);
    let udp = config.plugin("udp").unwrap();
    assert_eq!(udp.location.line, 4);
}

#[test]
fn directory_errors_come_from_every_file() {
    let dir = dir_with(&[
        ("a.toml", "[hekad]\nmaxproc = 2\n"),
        ("b.toml", "[x]\ntype = 'LogOutput'\ncan_exit = 1\n"),
        ("c.toml", "[x]\ntype = 'LogOutput'\n"),
    ]);
    let errors = Config::load(dir.path()).unwrap_err();
    assert_eq!(errors.len(), 3, "{errors}");
    assert_reported(&errors, &dir.path().join("a.toml"), 2, "hekad", "maxproc");
    assert_reported(&errors, &dir.path().join("b.toml"), 3, "x", "can_exit");
    // The duplicate names the file it was first defined in.
    let dup = errors
        .iter()
        .find(|e| matches!(e.kind, ErrorKind::Duplicate(_)))
        .unwrap();
    assert_eq!((dup.file.clone(), dup.line), (dir.path().join("c.toml"), 1));
    assert!(
        dup.to_string()
            .contains(&format!("{}:1", dir.path().join("b.toml").display()))
    );
}

#[test]
fn toml_syntax_error_has_file_line_and_column() {
    // The unterminated string is on line 4; the parser also trips over the
    // `==` on line 6 and reports that first.
    let (_dir, path, errors) = load_errors(
        "s.toml",
        "[a]\ntype = 'LogOutput'\n\nmatcher = \"TRUE\n[b]\nx==\n",
    );
    assert_eq!(errors.len(), 1, "{errors}");
    let e = &errors.0[0];
    assert!(matches!(e.kind, ErrorKind::Syntax(_)));
    // Reported where the line ends without the closing quote.
    assert_eq!((e.line, e.column), (4, 16));
    assert!(
        e.to_string()
            .starts_with(&format!("{}:4:{}: ", path.display(), e.column))
    );
}

#[test]
fn env_errors_name_file_and_line() {
    let (_dir, path, errors) = load_errors(
        "e.toml",
        "[a]\ntype = 'LogOutput'\nx = \"%ENV[BAD NAME]\"\ny = \"%ENV[NOCLOSE\"\n",
    );
    let texts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        texts,
        [
            format!(
                "{}:3: Invalid characters in environmental variable: \"BAD NAME\"",
                path.display()
            ),
            format!("{}:4: Missing closing delimiter", path.display()),
        ]
    );
}

#[test]
fn unknown_hekad_key() {
    let (_dir, path, errors) = load_errors(
        "h.toml",
        "[hekad]\nmaxprocs = 1\nmaxproc = 2\n[a]\ntype = 'LogOutput'\n",
    );
    assert_eq!(errors.len(), 1, "{errors}");
    assert_eq!(
        errors.to_string(),
        format!(
            "{}:3: section `hekad`: unknown key `maxproc`",
            path.display()
        )
    );
}

#[test]
fn wrong_types_say_what_is_expected() {
    let (_dir, path, errors) = load_errors(
        "t.toml",
        "[hekad]\npoolsize = \"10\"\n\n[in]\ntype = 'UdpInput'\nsynchronous_decode = \"yes\"\nticker_interval = 1.5\n",
    );
    assert_eq!(errors.len(), 3, "{errors}");
    assert_reported(&errors, &path, 2, "hekad", "poolsize");
    assert_reported(&errors, &path, 6, "in", "synchronous_decode");
    assert_reported(&errors, &path, 7, "in", "ticker_interval");
    let texts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert!(
        texts[0].ends_with("expected an integer, found a string"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].ends_with("expected a boolean, found a string"),
        "{}",
        texts[1]
    );
    assert!(
        texts[2].ends_with("expected a non-negative integer, found a float"),
        "{}",
        texts[2]
    );
}

#[test]
fn unrecognised_plugin_category() {
    let (_dir, path, errors) = load_errors(
        "c.toml",
        "[a]\ntype = 'LogOutput'\n\n[mystery]\ntype = 'Frobnicator'\n",
    );
    assert_eq!(errors.len(), 1, "{errors}");
    let text = errors.to_string();
    assert!(
        text.starts_with(&format!("{}:5: section `mystery`: ", path.display())),
        "{text}"
    );
    assert!(text.contains("Unrecognized plugin category"), "{text}");
    assert!(text.contains("Frobnicator"), "{text}");
    // Without `type`, the table name is the type and the header is the place.
    let (_dir, path, errors) = load_errors("c.toml", "\n[Mystery]\nx = 1\n");
    assert_eq!(errors.0[0].line, 2);
    assert_eq!(errors.0[0].file, path);
}

#[test]
fn hekad_range_checks() {
    let (_dir, path, errors) = load_errors(
        "r.toml",
        "[hekad]\nmax_message_size = 1024\nsample_denominator = 0\nplugin_chansize = 0\npoolsize = -5\n\
         [a]\ntype = 'LogOutput'\n",
    );
    assert_eq!(errors.len(), 4, "{errors}");
    assert_reported(&errors, &path, 2, "hekad", "max_message_size");
    assert_reported(&errors, &path, 3, "hekad", "sample_denominator");
    assert_reported(&errors, &path, 4, "hekad", "plugin_chansize");
    assert_reported(&errors, &path, 5, "hekad", "poolsize");
    assert!(errors.0[0].to_string().contains("1024"));
    // Just above the limits is fine.
    let dir = dir_with(&[(
        "ok.toml",
        "[hekad]\nmax_message_size = 1025\nsample_denominator = 1\nplugin_chansize = 1\npoolsize = 1\n\
         [a]\ntype = 'LogOutput'\n",
    )]);
    let g = Config::load(&dir.path().join("ok.toml")).unwrap().globals;
    assert_eq!(
        (
            g.max_message_size,
            g.sample_denominator,
            g.plugin_chansize,
            g.poolsize
        ),
        (1025, 1, 1, 1)
    );
}

#[test]
fn retries_errors() {
    let (_dir, path, errors) = load_errors(
        "q.toml",
        "[amqp]\ntype = 'AMQPOutput'\n[amqp.retries]\ndelay = '250 ms'\nmax_jitter = '5'\nmax_delay = '2m'\nmax_retires = 4\n",
    );
    assert_eq!(errors.len(), 3, "{errors}");
    assert_reported(&errors, &path, 4, "amqp", "retries.delay");
    assert_reported(&errors, &path, 5, "amqp", "retries.max_jitter");
    assert_reported(&errors, &path, 7, "amqp", "retries.max_retires");
    assert!(matches!(errors.0[2].kind, ErrorKind::UnknownKey { .. }));
}

#[test]
fn every_error_is_collected() {
    let (_dir, path, errors) = load_errors(
        "all.toml",
        "[hekad]\nfoo = 1\n[a]\ntype = 'Bogus'\n[b]\ntype = 'LogOutput'\ncan_exit = 'no'\n\
         [c]\ntype = 'TcpInput'\n[c.retries]\nbogus = 1\n",
    );
    assert_eq!(errors.len(), 4, "{errors}");
    assert_eq!(errors.to_string().lines().count(), 4);
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 4, 7, 11]);
    assert!(errors.iter().all(|e| e.file == path));
}

#[test]
fn empty_configuration() {
    for text in ["", "# only comments\n", "[hekad]\nmaxprocs = 1\n"] {
        let (_dir, path, errors) = load_errors("empty.toml", text);
        assert_eq!(errors.len(), 1, "{errors}");
        assert_eq!(
            errors.to_string(),
            format!("{}: Empty configuration, exiting.", path.display())
        );
    }
    let dir = dir_with(&[("notes.txt", "[a]\ntype = 'LogOutput'\n")]);
    let errors = Config::load(dir.path()).unwrap_err();
    assert_eq!(errors.0[0].kind, ErrorKind::Empty);
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let errors = Config::load(&path).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(matches!(errors.0[0].kind, ErrorKind::Io(_)));
    assert!(errors.to_string().starts_with(&path.display().to_string()));
}

#[test]
fn plugin_options_errors_point_into_the_file() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct FileOutputConfig {
        path: String,
        #[serde(default)]
        perm: Option<String>,
    }
    let dir = dir_with(&[(
        "o.toml",
        "[hekad]\npoolsize = 10\n\n[out]\ntype = 'FileOutput'\nmessage_matcher = 'TRUE'\npath = '/x'\nprem = '644'\n",
    )]);
    let path = dir.path().join("o.toml");
    let config = Config::load(&path).unwrap();
    let out = config.plugin("out").unwrap();
    let e = out.options::<FileOutputConfig>().unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "{}:8: section `out`: unknown key `prem`",
            path.display()
        )),
        "{text}"
    );
    assert!(text.contains("`perm`"), "{text}");
    assert_eq!(
        out.invalid("path", "must be absolute").to_string(),
        format!(
            "{}:7: section `out`: key `path`: must be absolute",
            path.display()
        )
    );
}

#[test]
fn default_instances_are_the_five_heka_registers() {
    let config = Config::from_str("[a]\ntype = 'LogOutput'\n", Path::new("d.toml")).unwrap();
    let defaults: Vec<&str> = config
        .plugins
        .iter()
        .filter(|p| p.default_instance)
        .map(|p| {
            assert_eq!(p.name, p.type_name);
            p.name.as_str()
        })
        .collect();
    assert_eq!(defaults, DEFAULT_INSTANCES);
}
