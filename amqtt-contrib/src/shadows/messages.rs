//! The JSON payloads of the replies, in aMQTT's shapes.

use serde_json::{Value, json};

use super::state::{Document, Object, Rejection};

/// `get/accepted` and `update/accepted`: `{"state", "metadata", "timestamp", "version"}` of the
/// whole current document.
pub fn accepted(doc: &Document) -> Vec<u8> {
    bytes(&json!({
        "state": doc.state.to_json(),
        "metadata": doc.metadata.to_json(),
        "timestamp": doc.timestamp,
        "version": doc.version,
    }))
}

/// `get/rejected` and `update/rejected`: `{"code", "message", "timestamp"}` (aMQTT leaves the
/// timestamp out of a `get/rejected`).
pub fn rejected(rejection: Rejection, timestamp: Option<i64>) -> Vec<u8> {
    let mut reply = json!({"code": rejection.code, "message": rejection.message});
    if let (Some(t), Some(o)) = (timestamp, reply.as_object_mut()) {
        o.insert("timestamp".to_owned(), t.into());
    }
    bytes(&reply)
}

/// `update/delta` and `update/iota`: `{"state", "metadata", "timestamp", "version"}` with the
/// differing keys only, not split into desired and reported.
pub fn delta(doc: &Document, (state, metadata): (Object, Object)) -> Vec<u8> {
    bytes(&json!({
        "state": state,
        "metadata": metadata,
        "timestamp": doc.timestamp,
        "version": doc.version,
    }))
}

/// `update/documents`: `{"previous", "current", "timestamp"}`, each document with its
/// `state`, `metadata`, `version` and `timestamp` (a shadow's first update has version 0,
/// timestamp 0 and empty sections as `previous`).
pub fn documents(previous: &Document, current: &Document) -> Vec<u8> {
    bytes(&json!({
        "previous": previous.to_json(),
        "current": current.to_json(),
        "timestamp": current.timestamp,
    }))
}

fn bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}
