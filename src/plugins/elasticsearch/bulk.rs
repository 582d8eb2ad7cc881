//! Reading ElasticSearch's answer to a `/_bulk` request, for
//! ElasticSearchOutput: which items went in, which may go in later (429,
//! 5xx: the node was busy or failing) and which never will (any other
//! status: a mapping conflict, a bad document).

use serde_json::Value;

/// What became of one item of a bulk request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Indexed.
    Done,
    /// Worth sending again (status 429 or 5xx), with the reason.
    Retry(String),
    /// Refused for good, with ElasticSearch's error.
    Rejected(String),
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkOutcome {
    /// `"errors": false`: everything went in.
    AllDone,
    /// `"errors": true`: one verdict per item, in request order.
    Items(Vec<Verdict>),
    /// The body is not a bulk answer (a proxy's page, an old server):
    /// the 2xx status is all there is to go on.
    Unreadable(String),
}

fn verdict(item: &Value) -> Verdict {
    // Each item is `{"<action>": {"status": …, "error": …}}`.
    let Some(result) = item.as_object().and_then(|o| o.values().next()) else {
        return Verdict::Rejected(format!("malformed item {item}"));
    };
    let status = result.get("status").and_then(Value::as_u64).unwrap_or(0);
    let error = || match result.get("error") {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => format!("status {status}"),
    };
    match status {
        200..=299 => Verdict::Done,
        429 | 500..=599 => Verdict::Retry(error()),
        _ => Verdict::Rejected(error()),
    }
}

/// Reads a bulk answer's body.
pub fn read(body: &[u8]) -> BulkOutcome {
    let answer: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(err) => return BulkOutcome::Unreadable(err.to_string()),
    };
    match answer.get("errors") {
        Some(Value::Bool(false)) => BulkOutcome::AllDone,
        Some(Value::Bool(true)) => match answer.get("items").and_then(Value::as_array) {
            Some(items) => BulkOutcome::Items(items.iter().map(verdict).collect()),
            None => BulkOutcome::Unreadable("errors is true but there are no items".into()),
        },
        _ => BulkOutcome::Unreadable("no `errors` member".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_sort_items_into_done_retry_and_rejected() {
        assert_eq!(
            read(br#"{"took":3,"errors":false,"items":[{"index":{"status":201}}]}"#),
            BulkOutcome::AllDone
        );
        let body = br#"{"took":3,"errors":true,"items":[
            {"index":{"_index":"i","status":201}},
            {"index":{"_index":"i","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"create":{"_index":"i","status":503,"error":"unavailable"}},
            {"index":{"_index":"i","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse"}}}
        ]}"#;
        let BulkOutcome::Items(items) = read(body) else {
            panic!("items expected");
        };
        assert_eq!(items[0], Verdict::Done);
        assert!(matches!(&items[1], Verdict::Retry(e) if e.contains("queue full")));
        assert_eq!(items[2], Verdict::Retry("unavailable".into()));
        assert!(
            matches!(&items[3], Verdict::Rejected(e) if e.contains("mapper_parsing_exception"))
        );
        assert!(matches!(read(b"<html>"), BulkOutcome::Unreadable(_)));
        assert!(matches!(read(b"{}"), BulkOutcome::Unreadable(_)));
    }
}
