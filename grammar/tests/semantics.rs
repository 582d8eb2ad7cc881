//! Evaluation semantics beyond Heka's own tables (HEKA-SPEC §2.3), each
//! checked against a message built for it.

use heka_proto::{Bytes, Field, Message};

use crate::{assert_all, compile, test_message, view};

#[test]
fn a_missing_field_or_index_satisfies_only_eq_nil() {
    let msg = test_message();
    for target in ["Fields[missing]", "Fields[foo][2]", "Fields[int][0][2]"] {
        assert_all(&msg, &[&format!("{target} == NIL")], true);
        let others: Vec<String> = [
            "!= NIL", "== 'x'", "!= 'x'", "< 'x'", ">= ''", "== 1", "!= 1", "> 0", "== TRUE",
            "== FALSE", "=~ /.*/", "!~ /x/",
        ]
        .iter()
        .map(|rest| format!("{target} {rest}"))
        .collect();
        let refs: Vec<&str> = others.iter().map(String::as_str).collect();
        assert_all(&msg, &refs, false);
    }
}

#[test]
fn bool_fields_compare_true_only_with_true_and_false_with_anything_else() {
    let mut msg = Message::new([0; 16], 0);
    msg.fields = vec![Field::boolean("t", true), Field::boolean("f", false)];
    assert_all(
        &msg,
        &[
            "Fields[t] == TRUE",
            "Fields[t] != NIL",
            "Fields[f] == FALSE",
        ],
        true,
    );
    assert_all(
        &msg,
        &[
            "Fields[t] == FALSE",
            "Fields[f] == TRUE",
            "Fields[t] == NIL",
        ],
        false,
    );
    // Heka's quirk: any right-hand side but TRUE tests for false, whatever the operator.
    assert_all(
        &msg,
        &[
            "Fields[f] == 'x'",
            "Fields[f] != 'x'",
            "Fields[f] > 3",
            "Fields[f] =~ /x/",
            "Fields[f] !~ /x/",
        ],
        true,
    );
    assert_all(
        &msg,
        &["Fields[t] != 'x'", "Fields[t] == 1", "Fields[t] !~ /x/"],
        false,
    );
}

#[test]
fn string_fields_compare_with_the_text_of_true_and_false() {
    let mut msg = Message::new([0; 16], 0);
    msg.fields = vec![Field::string("s", "TRUE"), Field::string("n", "FALSE")];
    assert_all(&msg, &["Fields[s] == TRUE", "Fields[n] == FALSE"], true);
    assert_all(&msg, &["Fields[s] == FALSE", "Fields[n] == TRUE"], false);
}

#[test]
fn kinds_that_do_not_compare_are_false_both_ways() {
    let msg = test_message();
    // A numeric field against a string or a regex; a string field against a number.
    assert_all(
        &msg,
        &[
            "Fields[int] == '999'",
            "Fields[int] != '999'",
            "Fields[int] =~ /9/",
            "Fields[int] !~ /x/",
            "Fields[string] == 43",
            "Fields[string] != 43",
            "Fields[double] == TRUE",
        ],
        false,
    );
}

#[test]
fn a_field_with_an_unknown_value_type_matches_nothing() {
    let mut msg = Message::new([0; 16], 0);
    let mut odd = Field::integer("odd", 1);
    odd.value_type = Some(42);
    msg.fields = vec![odd];
    assert_all(
        &msg,
        &[
            "Fields[odd] == NIL",
            "Fields[odd] != NIL",
            "Fields[odd] == 1",
        ],
        false,
    );
}

#[test]
fn unset_headers_read_as_defaults() {
    let msg = Message::default();
    assert_all(
        &msg,
        &[
            "Severity == 7",
            "Pid == 0",
            "Timestamp == 0",
            "Type == ''",
            "Hostname == ''",
            "Uuid == ''",
        ],
        true,
    );
    let short_uuid = Message {
        uuid: Bytes::from_static(b"0123"),
        ..Message::default()
    };
    assert_all(&short_uuid, &["Uuid == ''"], true);
}

#[test]
fn and_binds_tighter_than_or() {
    let msg = test_message();
    // TRUE || (FALSE && FALSE) is true; (TRUE || FALSE) && FALSE would be false.
    assert_all(
        &msg,
        &["TRUE || FALSE && FALSE", "FALSE && FALSE || TRUE"],
        true,
    );
    assert_all(
        &msg,
        &["(TRUE || FALSE) && FALSE", "FALSE && (FALSE || TRUE)"],
        false,
    );
}

#[test]
fn numbers_compare_as_float64() {
    let mut msg = Message::new([0; 16], 1_400_000_000_000_000_001);
    msg.fields = vec![
        Field::integer("big", 9_007_199_254_740_993),
        Field::double("d", 0.5),
    ];
    // Both sides become float64: nanosecond differences near the epoch vanish, as in Heka.
    assert_all(
        &msg,
        &[
            "Timestamp == 1400000000000000000",
            "Fields[big] == 9007199254740992",
            "Fields[d] == .5",
            "Fields[d] < 5e-1 || Fields[d] >= 0.5",
        ],
        true,
    );
}

#[test]
fn regexes_use_go_ascii_classes() {
    let mut msg = Message::new([0; 16], 0);
    // Arabic-Indic digits, an accented letter and a no-break space: Unicode
    // classes would match them, Go's \d, \w and \s do not.
    msg.payload = Some(Bytes::from("\u{661}\u{662} caf\u{e9}\u{a0}x"));
    assert_all(&msg, &[r"Payload =~ /caf\W/", r"Payload =~ /\Dx/"], true);
    assert_all(
        &msg,
        &[
            r"Payload =~ /\d/",
            r"Payload =~ /caf\w/",
            r"Payload =~ /\S\sx/",
            r"Payload =~ /[\d]/",
        ],
        false,
    );
    // `[+--]` is Go's range from '+' to '-', which holds ','.
    let mut comma = Message::new([0; 16], 0);
    comma.payload = Some(Bytes::from_static(b","));
    assert_all(&comma, &["Payload =~ /[+--]/"], true);
    // Inline flags and POSIX classes work as in RE2.
    assert_all(
        &msg,
        &[r"Payload =~ /(?i)CAF/", r"Payload =~ /[[:alpha:]]$/"],
        true,
    );
}

#[test]
fn non_utf8_text_is_matched_as_bytes() {
    let mut msg = Message::new([0; 16], 0);
    msg.payload = Some(Bytes::from_static(b"caf\xe9 ok"));
    assert_all(
        &msg,
        &[
            "Payload =~ /ok$/",
            "Payload =~ /^caf/",
            "Payload > 'caf'",
            "Payload =~ /f.* ok/",
        ],
        true,
    );
    assert_all(&msg, &["Payload == 'caf ok'"], false);
}

#[test]
fn literal_fast_paths_agree_with_the_regex_engine() {
    let mut msg = Message::new([0; 16], 0);
    msg.payload = Some(Bytes::from_static(b"a.b$c"));
    assert_all(
        &msg,
        &[
            r"Payload =~ /^a\.b/",
            r"Payload =~ /\$c$/",
            r"Payload =~ /^a\.b\$c$/",
            r"Payload =~ /b\$/",
            "Payload =~ //",
        ],
        true,
    );
    assert_all(
        &msg,
        &[r"Payload =~ /^b/", r"Payload =~ /^a\.b$/", "Payload !~ //"],
        false,
    );
    let mut empty = Message::new([0; 16], 0);
    empty.payload = Some(Bytes::new());
    assert_all(&empty, &["Payload =~ /^$/"], true);
}

#[test]
fn a_field_named_like_a_header_is_a_field() {
    let msg = test_message();
    assert!(compile("Fields[Timestamp] =~ /^Mon/").matches(&view(&msg)));
    assert!(compile("Fields[Type] == NIL").matches(&view(&msg)));
}
