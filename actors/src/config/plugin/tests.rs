//! Reading plugin tables: common keys, `retries` and `buffering`.
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::env::Expanded;

/// Reads the first table of `text` as plugin `name`.
fn read(text: &str) -> (Option<PluginSpec>, Vec<ConfigError>) {
    let lines = Expanded::plain(text);
    let root = DeTable::parse(&lines.text).unwrap().into_inner();
    let entry = entries(root, &lines).into_iter().next().unwrap();
    let ctx = Ctx {
        file: Path::new("p.toml"),
        lines: &lines,
        section: &entry.key,
    };
    let at = Location {
        file: "p.toml".into(),
        line: entry.line,
    };
    let mut errors = Vec::new();
    let t = table(entry.value).unwrap();
    let spec = read_plugin(&entry.key.clone(), at, t, &ctx, &mut errors);
    (spec, errors)
}

#[test]
fn common_keys_are_split_from_options() {
    let (spec, errors) = read(
        "\n[in]\ntype = \"TcpInput\"\naddress = \":5565\"\ndecoder = \"d\"\n\
         splitter = \"s\"\nsynchronous_decode = true\nsend_decode_failures = true\n\
         log_decode_failures = false\ncan_exit = true\nticker_interval = 5\n\
         message_matcher = \"TRUE\"\nmessage_signer = \"me\"\nencoder = \"e\"\n\
         use_framing = true\nuse_buffering = false\nkeep_truncated = true\n\
         use_message_bytes = true\nmin_buffer_size = 100\n\
         deliver_incomplete_final = true\n[in.buffering]\nmax_file_size = 1\n\
         [in.retries]\ndelay = \"1s\"\nmax_retries = 3\n",
    );
    assert_eq!(errors, vec![]);
    let spec = spec.unwrap();
    assert_eq!(spec.category, Category::Input);
    assert_eq!(spec.location.line, 2);
    let want = CommonKeys {
        decoder: Some("d".into()),
        splitter: Some("s".into()),
        synchronous_decode: Some(true),
        send_decode_failures: Some(true),
        log_decode_failures: Some(false),
        can_exit: Some(true),
        ticker_interval: Some(5),
        retries: Retries {
            delay: Duration::from_secs(1),
            max_retries: 3,
            ..Retries::default()
        },
        retries_configured: true,
        message_matcher: Some("TRUE".into()),
        message_signer: Some("me".into()),
        encoder: Some("e".into()),
        use_framing: Some(true),
        use_buffering: Some(false),
        buffering: Some(Buffering {
            max_file_size: 1,
            ..Buffering::default()
        }),
        keep_truncated: Some(true),
        use_message_bytes: Some(true),
        min_buffer_size: Some(100),
        deliver_incomplete_final: Some(true),
    };
    assert_eq!(spec.common, want);
    let keys: Vec<(&str, usize)> = spec
        .key_lines
        .iter()
        .map(|(k, l)| (k.as_str(), *l))
        .collect();
    assert_eq!(keys, vec![("address", 4)]);
    assert_eq!(spec.options.len(), 1);
    assert_eq!(spec.options["address"].as_str(), Some(":5565"));
}

#[test]
fn type_defaults_to_table_name() {
    let (spec, errors) = read("[LogOutput]\nmessage_matcher = 'TRUE'\n");
    assert!(errors.is_empty());
    let spec = spec.unwrap();
    assert_eq!(spec.type_name, "LogOutput");
    assert_eq!(spec.category, Category::Output);
    assert!(spec.options.is_empty());
}

#[test]
fn unrecognised_category_points_at_type_line() {
    let (spec, errors) = read("[x]\nfoo = 1\ntype = \"Thing\"\n");
    assert!(spec.is_none());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 3);
    assert_eq!(
        errors[0].kind,
        ErrorKind::UnrecognizedCategory("Thing".into())
    );
}

#[test]
fn wrong_types_and_retries_errors_are_all_reported() {
    let (spec, errors) = read(
        "[o]\ntype = 'FileOutput'\ncan_exit = 'yes'\nticker_interval = -1\n\
         [o.retries]\ndelay = '5 s'\nmax_delay = 3\ntries = 2\n",
    );
    assert!(spec.is_none());
    let got: Vec<(usize, &str)> = errors
        .iter()
        .map(|e| (e.line, e.key.as_deref().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, "can_exit"),
            (4, "ticker_interval"),
            (6, "retries.delay"),
            (7, "retries.max_delay"),
            (8, "retries.tries"),
        ]
    );
    assert!(matches!(errors[4].kind, ErrorKind::UnknownKey { .. }));
}

#[test]
fn type_of_wrong_type_is_one_error() {
    let (spec, errors) = read("[x]\ntype = 5\n");
    assert!(spec.is_none());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key.as_deref(), Some("type"));
    assert_eq!(
        errors[0].kind.to_string(),
        "expected a string, found an integer"
    );
}

#[test]
fn buffering_table_is_read_with_heka_defaults_and_checked() {
    let (spec, errors) = read(
        "[o]\ntype = 'FileOutput'\nuse_buffering = true\n[o.buffering]\n\
         max_file_size = 0\nmax_buffer_size = 4096\nfull_action = 'block'\n",
    );
    assert_eq!(errors, vec![]);
    let want = Buffering {
        max_buffer_size: 4096,
        full_action: FullAction::Block,
        ..Buffering::default()
    };
    let spec = spec.unwrap();
    assert_eq!(spec.common.buffering, Some(want));
    assert_eq!(spec.buffering(None), Some(want));
    let (_, errors) =
        read("[o]\ntype = 'FileOutput'\n[o.buffering]\nfull_action = 'wait'\nmax_size = 1\n");
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_deref().unwrap()).collect();
    assert_eq!(keys, ["buffering.full_action", "buffering.max_size"]);
}

#[test]
fn plugin_buffering_defaults_apply_only_without_a_table() {
    let tcp = Buffering {
        max_file_size: 128 << 20,
        cursor_update_count: 50,
        ..Buffering::default()
    };
    let (spec, _) = read("[o]\ntype = 'TcpOutput'\n");
    assert_eq!(spec.unwrap().buffering(Some(tcp)), Some(tcp));
    let (spec, _) = read("[o]\ntype = 'TcpOutput'\nuse_buffering = false\n");
    assert_eq!(spec.unwrap().buffering(Some(tcp)), None);
    let (spec, _) = read("[o]\ntype = 'TcpOutput'\n[o.buffering]\nmax_buffer_size = 9\n");
    let got = spec.unwrap().buffering(Some(tcp)).unwrap();
    assert_eq!((got.max_file_size, got.cursor_update_count), (512 << 20, 1));
    let (spec, _) = read("[i]\ntype = 'TcpInput'\nuse_buffering = true\n");
    assert_eq!(
        spec.unwrap().buffering(None),
        None,
        "inputs are never buffered"
    );
}

#[test]
fn retries_must_be_a_table() {
    let (_, errors) = read("[o]\ntype = 'FileOutput'\nretries = 3\n");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key.as_deref(), Some("retries"));
    assert_eq!(
        errors[0].kind.to_string(),
        "expected a table, found an integer"
    );
}
