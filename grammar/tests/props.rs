//! Property tests: no input makes the parser panic, what it prints it reads
//! back the same, errors point at a character of the input, nesting fails
//! exactly past its limit, and regex bombs are refused at compile time.

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

/// Any text with the matcher's special characters over-represented.
fn hostile_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => fragment().prop_map(str::to_owned),
            1 => "[()\\[\\]/'\"\\\\=!<>&|~ \\n]",
            1 => "\\PC",
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn errors_point_at_a_character_of_the_input(s in hostile_text()) {
        // An offset a caller can slice the input at and show.
        if let Err(e) = Matcher::compile(&s) {
            prop_assert!(e.offset <= s.len(), "offset {} beyond {:?}", e.offset, s);
            prop_assert!(s.is_char_boundary(e.offset), "offset {} inside a character of {:?}", e.offset, s);
            prop_assert_eq!(&e.input, &s);
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn nesting_depth_is_an_error_exactly_past_the_limit(depth in 0usize..200, and in any::<bool>()) {
        // Parentheses alternating with operators, as generated configs
        // write them: fine up to MAX_DEPTH, one error past it, never a crash.
        let op = if and { " && " } else { " || " };
        let s = format!("{}TRUE{}", "(".repeat(depth), format!("{op}FALSE)").repeat(depth));
        let verdict = Matcher::compile(&s);
        if depth <= heka_grammar::parser::MAX_DEPTH {
            prop_assert!(verdict.is_ok(), "{:?}", verdict.err());
            prop_assert_eq!(verdict.unwrap().matches(&view(&test_message())), depth == 0 || !and);
        } else {
            prop_assert_eq!(verdict.unwrap_err().kind, heka_grammar::ParseErrorKind::TooDeep(heka_grammar::parser::MAX_DEPTH));
        }
    }
}

#[test]
fn regex_bombs_are_errors_not_hangs_or_crashes() {
    // Nesting and repetition the regex engine refuses (its nest limit and
    // its compiled-size limit): a config error, found at once.
    let deep = format!(
        "Payload =~ /{}a{}/",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let huge = "Payload =~ /((a{1000}){1000}){1000}/";
    let classes = "Fields[x] =~ /(\\pL{1000}){100}/";
    for spec in [deep.as_str(), huge, classes] {
        let started = std::time::Instant::now();
        let err = match Matcher::compile(spec) {
            Ok(_) => panic!("{} compiled", &spec[..40]),
            Err(e) => e,
        };
        assert!(
            matches!(err.kind, heka_grammar::ParseErrorKind::InvalidRegex(_)),
            "{err}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
