//! Heka's accidental acceptances (HEKA-SPEC §2.1 and §2.5) and what we
//! decided for each; the README's "Matcher compatibility decisions" section
//! says the same in prose. In short: anything Heka would have silently
//! ignored or reinterpreted is an error that says why.

use heka_grammar::{Matcher, ParseErrorKind};

use crate::{compile, test_message, view};

fn kind(spec: &str) -> ParseErrorKind {
    Matcher::compile(spec).expect_err(spec).kind
}

#[test]
fn a_newline_followed_only_by_blanks_is_accepted() {
    // As a TOML multi-line string leaves it; Heka read the same expression.
    let m = compile("Type == 'TEST'\n");
    assert!(m.matches(&view(&test_message())));
    compile("Type == 'TEST' \n \t\n");
}

#[test]
fn text_after_a_newline_is_an_error() {
    // Heka stopped at the newline: this matched every TEST message, whatever its severity.
    let err = Matcher::compile("Type == 'TEST'\n&& Severity == 1").unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::TextAfterNewline);
    assert_eq!(err.offset, 15);
    // Inside a string too: Heka saw an unterminated string here.
    assert_eq!(kind("Payload == 'a\nb'"), ParseErrorKind::TextAfterNewline);
}

#[test]
fn a_carriage_return_is_an_error_as_in_heka() {
    assert!(matches!(
        kind("Type == 'TEST'\r\n"),
        ParseErrorKind::Expected(_)
    ));
}

#[test]
fn a_trailing_unknown_name_is_an_error() {
    // Heka took `Invalid` for the end of input and matched everything.
    assert_eq!(
        kind("TRUE Invalid"),
        ParseErrorKind::UnknownName("Invalid".into())
    );
    assert_eq!(
        kind("Type == 'x' && Severity == 6 Garbage here"),
        ParseErrorKind::UnknownName("Garbage".into())
    );
}

#[test]
fn juxtaposed_expressions_are_an_error() {
    // Heka kept only the last one: this matched on Severity alone.
    let err = Matcher::compile("Type == 'x' Severity == 6").unwrap_err();
    assert_eq!(err.offset, 12);
    assert!(matches!(err.kind, ParseErrorKind::Expected(_)));
    assert!(Matcher::compile("(TRUE) (FALSE)").is_err());
}

#[test]
fn malformed_numbers_are_an_error() {
    // Heka logged these and compared with 0.
    for spec in [
        "Severity == 1.2.3",
        "Severity == 6-1",
        "Severity == 6e",
        "Fields[x] == 1e+",
    ] {
        assert!(
            matches!(kind(spec), ParseErrorKind::MalformedNumber(_)),
            "{spec}"
        );
    }
}

#[test]
fn negative_numbers_are_an_error_as_in_heka() {
    assert!(matches!(
        kind("Fields[x] == -1"),
        ParseErrorKind::Expected(_)
    ));
}
