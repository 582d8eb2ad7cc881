//! Heka's own matcher test tables (message/message_matcher_test.go in
//! Heka 0.10): expressions that must not compile, that must be false and
//! that must be true against the test message.

use heka_grammar::Matcher;

use crate::{assert_all, test_message};

const MALFORMED: &[&str] = &[
    "",
    "bogus",
    "Type = 'test'",
    "Pid == 'test='",
    "Type == 'test' && (Severity==7 || Payload == 'Test Payload'",
    "Invalid == 'bogus'",
    "Fields[]",
    "Fields[test][]",
    "Fields[test][a]",
    "Fields[test][0][]",
    "Fields[test][0][a]",
    "Fields[test][0][0][]",
    "Fields[test][xxxx",
    "Pid =~ /6/",
    "Pid !~ /6/",
    "Type =~ /test",
    "Type == /test/",
    "Type =~ 'test'",
    r"Type =~ /\ytest/",
    "Type != 'test\"",
    "Pid =~ 6",
    "NIL",
    "Type == NIL",
    "Fields[test] > NIL",
];

const NEGATIVE: &[&str] = &[
    "FALSE",
    "Type == 'test'&&(Severity==7||Payload=='Test Payload')",
    "EnvVersion == '0.9'",
    "EnvVersion != '0.8'",
    "EnvVersion > '0.9'",
    "EnvVersion >= '0.9'",
    "EnvVersion < '0.8'",
    "EnvVersion <= '0.7'",
    "Severity == 5",
    "Severity != 6",
    "Severity < 6",
    "Severity <= 5",
    "Severity > 6",
    "Severity >= 7",
    "Fields[foo] == 'ba'",
    "Fields[foo][1] == 'bar'",
    "Fields[foo][0][1] == 'bar'",
    "Fields[bool] == FALSE",
    "Type =~ /Test/",
    "Type !~ /TEST/",
    "Payload =~ /^Payload/",
    "Type == \"te'st\"",
    "Type == 'te\"st'",
    "Fields[int] =~ /999/",
    "Fields[zero] == \"0\"",
    "Fields[string] == 43",
    "Fields[int] == NIL",
    "Fields[int][0][1] == NIL",
    "Fields[missing] != NIL",
    "Type =~ /^te/",
    "Type =~ /st$/",
    "Type !~ /^TE/",
    "Type !~ /ST$/",
    "Logger =~ /./ && Type =~ /^anything/",
];

const POSITIVE: &[&str] = &[
    "TRUE",
    "(Severity == 7 || Payload == 'Test Payload') && Type == 'TEST'",
    "EnvVersion == \"0.8\"",
    "EnvVersion == '0.8'",
    "EnvVersion != '0.9'",
    "EnvVersion > '0.7'",
    "EnvVersion >= '0.8'",
    "EnvVersion < '0.9'",
    "EnvVersion <= '0.8'",
    "Hostname != ''",
    "Logger == 'GoSpec'",
    "Pid != 0",
    "Severity != 5",
    "Severity < 7",
    "Severity <= 6",
    "Severity == 6",
    "Severity > 5",
    "Severity >= 6",
    "Timestamp > 0",
    "Type != 'test'",
    "Type == 'TEST' && Severity == 6",
    "Type == 'test' && Severity == 7 || Payload == 'Test Payload'",
    "Type == 'TEST'",
    "Type == 'foo' || Type == 'bar' || Type == 'TEST'",
    "Uuid == '8e414f01-9d7f-4a48-a5e1-ae92e5954df5'",
    "Fields[foo] == 'bar'",
    "Fields[foo][0] == 'bar'",
    "Fields[foo][0][0] == 'bar'",
    "Fields[foo][1] == 'alternate'",
    "Fields[foo][1][0] == 'alternate'",
    "Fields[bytes] == 'data'",
    "Fields[int] == 999",
    "Fields[int][0][1] == 1024",
    "Fields[double] == 99.9",
    "Fields[bool] == TRUE",
    "Type =~ /TEST/",
    "Type !~ /bogus/",
    "Type =~ /TEST/ && Payload =~ /Payload/",
    "Fields[foo][1] =~ /alt/",
    r"Fields[Payload] =~ /name=\w+/",
    "Type =~ /(ST)/",
    "Fields[int] != NIL",
    "Fields[int][0][1] != NIL",
    "Fields[int][0][2] == NIL",
    "Fields[missing] == NIL",
    "Type =~ /^TE/",
    "Type =~ /ST$/",
    "Type !~ /^te/",
    "Type !~ /st$/",
];

#[test]
fn malformed_matchers_do_not_compile() {
    let compiled: Vec<&str> = MALFORMED
        .iter()
        .copied()
        .filter(|s| Matcher::compile(s).is_ok())
        .collect();
    assert!(compiled.is_empty(), "should not compile: {compiled:#?}");
}

#[test]
fn negative_matchers_are_false() {
    assert_all(&test_message(), NEGATIVE, false);
}

#[test]
fn positive_matchers_are_true() {
    assert_all(&test_message(), POSITIVE, true);
}
