//! Syntax errors say what was expected or what is wrong, and where.

use heka_grammar::{Matcher, ParseErrorKind, parser::MAX_DEPTH};

fn message(spec: &str) -> String {
    Matcher::compile(spec).expect_err(spec).to_string()
}

#[test]
fn errors_name_the_expectation_the_offset_and_the_input() {
    let cases = [
        (
            "Type = 'x'",
            "expected a comparison operator at offset 5 in \"Type = 'x'\"",
        ),
        (
            "",
            "expected a test, TRUE, FALSE or '(' at offset 0 in \"\"",
        ),
        (
            "Type ==",
            "expected a quoted string at offset 7 in \"Type ==\"",
        ),
        (
            "Severity == 'x'",
            "expected a number at offset 12 in \"Severity == 'x'\"",
        ),
        (
            "Type =~ 'x'",
            "expected a /regular expression/ at offset 8 in \"Type =~ 'x'\"",
        ),
        ("(TRUE", "expected ')' at offset 5 in \"(TRUE\""),
        (
            "(TRUE FALSE)",
            "expected '&&', '||' or ')' at offset 6 in \"(TRUE FALSE)\"",
        ),
        (
            "Fields[x] > NIL",
            "expected a quoted string or a number at offset 12 in \"Fields[x] > NIL\"",
        ),
        (
            "Type == 'x",
            "unterminated string at offset 8 in \"Type == 'x\"",
        ),
        (
            "Type =~ /x",
            "unterminated regular expression at offset 8 in \"Type =~ /x\"",
        ),
        (
            "Severity == 1..2",
            "malformed number \"1..2\" at offset 12 in \"Severity == 1..2\"",
        ),
        (
            "Fields[] == 1",
            "malformed field reference: empty field name at offset 0 in \"Fields[] == 1\"",
        ),
        (
            "TRUE && type == 'x'",
            "expected a test, TRUE, FALSE or '(' at offset 8 in \"TRUE && type == 'x'\"",
        ),
    ];
    for (spec, expected) in cases {
        assert_eq!(message(spec), expected, "{spec}");
    }
}

#[test]
fn an_invalid_regex_names_the_regex_offset_and_the_reason() {
    let err = Matcher::compile("Type == 'x' || Payload =~ /a(b/").unwrap_err();
    assert_eq!(err.offset, 26);
    match err.kind {
        ParseErrorKind::InvalidRegex(reason) => {
            assert!(reason.contains("unclosed group"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn offsets_are_in_bytes_of_the_whole_input() {
    let err = Matcher::compile("Fields[é] == 'ü' &&& TRUE").unwrap_err();
    // "Fields[é] == 'ü' &&" is 21 bytes; the stray '&' follows.
    assert_eq!(err.offset, 21);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let ok = format!("{}TRUE{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(Matcher::compile(&ok).is_ok());
    let deep = format!("{}TRUE{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(
        Matcher::compile(&deep).unwrap_err().kind,
        ParseErrorKind::TooDeep(MAX_DEPTH)
    );
}

#[test]
fn long_chains_do_not_recurse() {
    let chain = vec!["Severity == 6"; 50_000].join(" && ");
    assert!(
        Matcher::compile(&chain)
            .unwrap()
            .matches(&crate::view(&crate::test_message()))
    );
    let chain = vec!["Severity == 1"; 50_000].join(" || ");
    assert!(
        !Matcher::compile(&chain)
            .unwrap()
            .matches(&crate::view(&crate::test_message()))
    );
}
