//! Hostile plugin options through every factory of the catalogue: for each
//! plugin type, the keys it accepts (learnt from its own "unknown key"
//! error) get generated values of every TOML type, out-of-range numbers,
//! malformed durations, addresses and paths. Building never panics, and
//! each error names the file and the section it is about. (It found a
//! panic on Go time layouts holding multi-byte characters.)
//!
//! Only plugins are built, nothing is started: factories read files but do
//! not bind. FileOutput opens (creates) its file when built, as Heka's did,
//! so `path` always points into a temporary directory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use hekad::actors::build::build;
use hekad::actors::config::Config;
use hekad::catalogue::{PLUGINS, catalogue};
use proptest::prelude::*;

const FILE: &str = "build.toml";

fn tmp() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// A config with one plugin `p` of `type_name` and `body` lines.
fn config(type_name: &str, body: &str) -> String {
    format!(
        "[hekad]\nbase_dir = \"{t}\"\nshare_dir = \"{t}\"\n\n[p]\ntype = \"{type_name}\"\n{body}",
        t = tmp().display()
    )
}

/// The build errors of `text` (config errors count as none: they are
/// covered by the config tests); panics propagate.
fn build_errors(text: &str) -> Vec<String> {
    let Ok(config) = Config::from_str_with_env(text, Path::new(FILE), &|_| None) else {
        return Vec::new();
    };
    match build(&config.plugins, &catalogue(), &config.globals) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| e.message).collect(),
    }
}

/// The keys each type accepts, from the hint of its unknown-key error.
fn keys() -> &'static HashMap<&'static str, Vec<String>> {
    static KEYS: OnceLock<HashMap<&'static str, Vec<String>>> = OnceLock::new();
    KEYS.get_or_init(|| {
        PLUGINS
            .iter()
            .map(|p| {
                let errors = build_errors(&config(p.type_name, "zz_not_a_key = 1\n"));
                let hint = errors
                    .iter()
                    .find_map(|e| e.split_once("expected one of").map(|(_, h)| h.to_owned()))
                    .unwrap_or_default();
                let keys = hint
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect();
                (p.type_name, keys)
            })
            .collect()
    })
}

fn value() -> impl Strategy<Value = String> {
    let t = tmp().display().to_string();
    prop_oneof![
        4 => prop::sample::select(vec![
            "\"\"".to_owned(),
            "\"x\"".to_owned(),
            "\"TRUE\"".to_owned(),
            "\"1s\"".to_owned(),
            "\"-1s\"".to_owned(),
            "\"99999999999h\"".to_owned(),
            "\"%\"".to_owned(),
            "\"(\"".to_owned(),
            "\"127.0.0.1:0\"".to_owned(),
            "\"[::1]:99999\"".to_owned(),
            "\"http://127.0.0.1:0/x\"".to_owned(),
            "\"sha1\"".to_owned(),
            format!("\"{t}\""),
            format!("\"{t}/missing.lua\""),
            "0".to_owned(),
            "-1".to_owned(),
            "1".to_owned(),
            "4294967296".to_owned(),
            "9223372036854775807".to_owned(),
            "-9223372036854775808".to_owned(),
            "1.5".to_owned(),
            "nan".to_owned(),
            "-inf".to_owned(),
            "true".to_owned(),
            "[]".to_owned(),
            "[\"a\", \"\"]".to_owned(),
            "[0, -1]".to_owned(),
            "{}".to_owned(),
            "{ a = 1, b = \"x\" }".to_owned(),
            "1979-05-27T07:32:00Z".to_owned(),
        ]),
        1 => "\\PC{0,8}".prop_map(|s| format!("{s:?}")),
        1 => any::<i64>().prop_map(|i| i.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn factories_never_panic_and_errors_name_the_section(
        type_name in prop::sample::select(PLUGINS.iter().map(|p| p.type_name).collect::<Vec<_>>()),
        picks in prop::collection::vec((any::<prop::sample::Index>(), value()), 0..4),
    ) {
        let known = &keys()[type_name];
        let mut body = String::new();
        let mut used = std::collections::HashSet::new();
        for (index, v) in &picks {
            if known.is_empty() {
                break;
            }
            let key = index.get(known);
            if key != "path" && used.insert(key) {
                body.push_str(&format!("{key} = {v}\n"));
            }
        }
        if known.iter().any(|k| k == "path") {
            body.push_str(&format!("path = \"{}/file\"\n", tmp().display()));
        }
        if type_name.ends_with("Filter") || type_name.ends_with("Output") {
            body.push_str("message_matcher = \"TRUE\"\n");
        }
        for e in build_errors(&config(type_name, &body)) {
            if e.contains("section `p`") {
                prop_assert!(e.starts_with(FILE), "{}", e);
            }
        }
    }
}

#[test]
fn every_type_tells_its_keys() {
    // Otherwise the property would only ever try unknown keys. Types with
    // no options of their own (ProtobufDecoder, NullSplitter, …) may say
    // none.
    let with_keys = keys().values().filter(|k| !k.is_empty()).count();
    assert!(with_keys >= PLUGINS.len() / 2, "{:?}", keys());
    assert!(keys()["TcpInput"].iter().any(|k| k == "max_connections"));
}
