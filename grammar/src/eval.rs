//! Evaluating the plan against a message, with Heka's semantics (HEKA-SPEC
//! §2.3): unset string headers read "", unset Severity 7, numbers compare as
//! float64, a missing field or index satisfies only `== NIL`, and the result
//! of a field test depends on the kinds of both sides. Nothing allocates.

use heka_proto::{FieldValue, FieldView, MessageView};

use crate::ast::{NumVar, StrVar};
use crate::compile::{FieldTest, Node};

impl Node {
    pub(crate) fn eval(&self, msg: &MessageView) -> bool {
        match self {
            Node::Or(terms) => terms.iter().any(|t| t.eval(msg)),
            Node::And(terms) => terms.iter().all(|t| t.eval(msg)),
            Node::Const(b) => *b,
            Node::Str(var, test) => match var {
                StrVar::Uuid => match msg.uuid_text() {
                    Some(text) => test.eval(&text),
                    None => test.eval(b""),
                },
                StrVar::Type => test.eval(msg.r#type()),
                StrVar::Logger => test.eval(msg.logger()),
                StrVar::Payload => test.eval(msg.payload()),
                StrVar::EnvVersion => test.eval(msg.env_version()),
                StrVar::Hostname => test.eval(msg.hostname()),
            },
            Node::Num(var, rel, n) => {
                let value = match var {
                    NumVar::Timestamp => msg.timestamp() as f64,
                    NumVar::Severity => f64::from(msg.severity()),
                    NumVar::Pid => f64::from(msg.pid()),
                };
                rel.test(&value, n)
            }
            Node::Field {
                name,
                field_index,
                array_index,
                test,
            } => match msg.field(name, *field_index) {
                Some(field) => field_test(field, *array_index, test),
                None => matches!(test, FieldTest::Nil(true)),
            },
        }
    }
}

fn field_test(field: FieldView<'_>, ai: usize, test: &FieldTest) -> bool {
    // A value type outside the enum matches nothing, not even `!= NIL`
    // (Heka's switch over the type had no default case).
    if field.kind().is_none() {
        return false;
    }
    let Some(value) = field.value(ai) else {
        return matches!(test, FieldTest::Nil(true));
    };
    match value {
        FieldValue::String(s) | FieldValue::Bytes(s) => match test {
            FieldTest::Str(t) => t.eval(s),
            FieldTest::Num(..) => false,
            FieldTest::Nil(eq) => !eq,
            // QUIRK kept: a string is compared with the text of the constant.
            FieldTest::Bool(b) => s == if *b { &b"TRUE"[..] } else { b"FALSE" },
        },
        FieldValue::Integer(i) => number_test(i as f64, test),
        FieldValue::Double(d) => number_test(d, test),
        FieldValue::Bool(b) => match test {
            FieldTest::Nil(eq) => !eq,
            FieldTest::Bool(true) => b,
            // QUIRK kept: anything but TRUE (FALSE, a string, a number,
            // a regex, whatever the operator) tests for false.
            _ => !b,
        },
    }
}

fn number_test(f: f64, test: &FieldTest) -> bool {
    match test {
        FieldTest::Num(rel, n) => rel.test(&f, n),
        FieldTest::Nil(eq) => !eq,
        FieldTest::Str(_) | FieldTest::Bool(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::RelOp as Rel;

    #[test]
    fn relations_follow_their_operator() {
        assert!(Rel::Lt.test(&1.0, &2.0));
        assert!(!Rel::Lt.test(&2.0, &2.0));
        assert!(Rel::Le.test(&b"abc"[..], &b"abd"[..]));
        assert!(Rel::Ne.test(&f64::NAN, &f64::NAN));
    }
}
