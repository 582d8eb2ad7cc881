//! The graphite plaintext lines of a stat metric message, as CarbonOutput
//! sends them: `<name> <value> <unix seconds>\n`.
//!
//! From the payload (what StatAccumInput's `emit_in_payload` writes), as
//! Heka did: every line must have three words, a number and a timestamp
//! that fits 32 bits unsigned; other lines are malformed. When the payload
//! is empty (a StatAccumInput with only `emit_in_fields`), the lines come
//! from the fields instead (Heka 0.10's CarbonOutput read payloads only):
//! every field but `timestamp` is a metric, at the time in the
//! `timestamp` field (or the message's), and a field that is not a number
//! is malformed.

use heka_proto::{FieldValue, MessageView};

/// Appends the lines of `msg` to `out`, recording where each line ends in
/// `ends`; returns the malformed lines (or fields), for the caller to
/// count and log.
pub fn extract(msg: &MessageView, out: &mut String, ends: &mut Vec<usize>) -> Vec<String> {
    let payload = String::from_utf8_lossy(msg.payload());
    let payload = payload.trim_matches([' ', '\t', '\n']);
    let mut malformed = Vec::new();
    if payload.is_empty() {
        from_fields(msg, out, ends, &mut malformed);
        return malformed;
    }
    for line in payload.split('\n') {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [name, value, time] = words[..] else {
            malformed.push(line.to_owned());
            continue;
        };
        if time.parse::<u32>().is_err() || value.parse::<f64>().is_err() {
            malformed.push(line.to_owned());
            continue;
        }
        push(out, ends, name, value, time);
    }
    malformed
}

fn push(out: &mut String, ends: &mut Vec<usize>, name: &str, value: &str, time: &str) {
    out.push_str(name);
    out.push(' ');
    out.push_str(value);
    out.push(' ');
    out.push_str(time);
    out.push('\n');
    ends.push(out.len());
}

fn from_fields(msg: &MessageView, out: &mut String, ends: &mut Vec<usize>, bad: &mut Vec<String>) {
    let time = match msg.field_value(b"timestamp", 0, 0) {
        Some(FieldValue::Integer(t)) => t,
        _ => msg.timestamp().div_euclid(1_000_000_000),
    }
    .to_string();
    for field in msg.fields() {
        let name = String::from_utf8_lossy(field.name());
        if name == "timestamp" {
            continue;
        }
        let value = match field.value(0) {
            Some(FieldValue::Integer(v)) => v.to_string(),
            Some(FieldValue::Double(v)) if v.is_finite() => format!("{v:.6}"),
            _ => {
                bad.push(format!("field {name}"));
                continue;
            }
        };
        if !crate::plugins::statsd::stat::valid_bucket(&name) {
            bad.push(format!("field {name}"));
            continue;
        }
        push(out, ends, &name, &value, &time);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use heka_proto::{Field, Message};

    fn view(payload: &str, fields: Vec<Field>) -> MessageView {
        let mut msg = Message::new([2; 16], 1_700_000_005_500_000_000);
        msg.payload = Some(Bytes::copy_from_slice(payload.as_bytes()));
        msg.fields = fields;
        MessageView::from_message(&msg).unwrap()
    }

    fn run(msg: &MessageView) -> (String, Vec<usize>, Vec<String>) {
        let mut out = String::new();
        let mut ends = Vec::new();
        let bad = extract(msg, &mut out, &mut ends);
        (out, ends, bad)
    }

    #[test]
    fn payload_lines_are_checked_like_heka_s() {
        let msg = view(
            "\n a.b 1.500000 1700000000\nbad line\nc.d x 1700000000\ne.f 2 -1\ng.h   3   1700000001\n",
            vec![],
        );
        let (out, ends, bad) = run(&msg);
        assert_eq!(out, "a.b 1.500000 1700000000\ng.h 3 1700000001\n");
        assert_eq!(ends, [24, out.len()]);
        assert_eq!(bad, ["bad line", "c.d x 1700000000", "e.f 2 -1"]);
    }

    #[test]
    fn fields_make_lines_when_the_payload_is_empty() {
        let msg = view(
            "",
            vec![
                Field::integer("timestamp", 1_700_000_000),
                Field::double("stats.counters.hits.rate", 0.5),
                Field::integer("stats.counters.hits.count", 5),
                Field::string("note", "not a number"),
            ],
        );
        let (out, _, bad) = run(&msg);
        assert_eq!(
            out,
            "stats.counters.hits.rate 0.500000 1700000000\nstats.counters.hits.count 5 1700000000\n"
        );
        assert_eq!(bad, ["field note"]);
        // Without a timestamp field, the message's time in seconds.
        let (out, _, _) = run(&view("", vec![Field::integer("x", 1)]));
        assert_eq!(out, "x 1 1700000005\n");
    }
}
