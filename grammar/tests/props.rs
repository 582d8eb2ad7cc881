//! Property tests: no input makes the parser panic, and what it prints it
//! reads back the same.

use heka_grammar::{Matcher, parse};
use proptest::prelude::*;

use crate::{test_message, view};

/// Fragments of the matcher language, to build inputs that get deep into
/// the parser rather than failing on the first character.
fn fragment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "Type",
        "Severity",
        "Fields[foo]",
        "Fields[int][0][1]",
        "Fields[",
        "][",
        "Uuid",
        "Payload",
        "TRUE",
        "FALSE",
        "NIL",
        "==",
        "!=",
        "<",
        ">=",
        "=~",
        "!~",
        "&&",
        "||",
        "(",
        ")",
        "'x'",
        "\"y\"",
        "'",
        "\"",
        "\\",
        "/a.b/",
        "/",
        "6",
        "1.5e3",
        "1.2.3",
        ".",
        " ",
        "\t",
        "\n",
        "é",
        "=",
        "!",
        "&",
        "|",
        "Invalid",
        "[",
        "]",
        "/(/",
        "/\\d+/",
        "/^TE/",
        "'\\''",
    ])
}

/// A tree's debug form with byte offsets blanked out.
fn without_offsets(expr: &impl std::fmt::Debug) -> String {
    let offsets = regex::Regex::new(r"offset: \d+").unwrap();
    offsets
        .replace_all(&format!("{expr:?}"), "offset: _")
        .into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,64}") {
        if let Ok(m) = Matcher::compile(&s) {
            let _ = m.matches(&view(&test_message()));
        }
    }

    #[test]
    fn arbitrary_token_soup_never_panics(parts in prop::collection::vec(fragment(), 0..24)) {
        let s = parts.concat();
        match Matcher::compile(&s) {
            Ok(m) => { let _ = m.matches(&view(&test_message())); }
            Err(e) => prop_assert!(e.offset <= s.len(), "offset {} beyond {:?}", e.offset, s),
        }
    }

    #[test]
    fn printed_expressions_parse_back_to_the_same_tree(parts in prop::collection::vec(fragment(), 0..24)) {
        let s = parts.concat();
        if let Ok(expr) = parse(&s) {
            let printed = expr.to_string();
            let again = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?;
            // Regex literals keep their byte offset (for error messages), so
            // trees parsed from differently spaced text differ there only.
            prop_assert_eq!(without_offsets(&again), without_offsets(&expr));
            prop_assert_eq!(again.to_string(), printed);
        }
    }
}
