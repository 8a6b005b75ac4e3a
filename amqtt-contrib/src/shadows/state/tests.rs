use serde_json::json;

use super::*;

fn update(payload: Value) -> Update {
    Update::parse(payload.to_string().as_bytes()).expect("valid update")
}

fn obj(value: Value) -> Object {
    value.as_object().expect("an object").clone()
}

#[test]
fn merge_replaces_recurses_and_deletes_with_stamps() {
    let first = Document::default().updated(
        &update(json!({"state": {"desired": {"a": 1, "o": {"x": 1, "y": 2}, "l": [1, 2]}}})),
        10,
    );
    let next = first.updated(
        &update(json!({"state": {"desired": {"a": null, "o": {"y": 3}}, "reported": {"r": true}}})),
        20,
    );
    assert_eq!(
        next.state.desired,
        obj(json!({"o": {"x": 1, "y": 3}, "l": [1, 2]}))
    );
    assert_eq!(next.state.reported, obj(json!({"r": true})));
    assert_eq!(
        next.metadata.desired,
        obj(json!({"o": {"x": {"timestamp": 10}, "y": {"timestamp": 20}}, "l": {"timestamp": 10}}))
    );
    assert_eq!(next.metadata.reported, obj(json!({"r": {"timestamp": 20}})));
    let cleared = next.updated(&update(json!({"state": {"desired": null}})), 30);
    assert!(cleared.state.desired.is_empty() && cleared.metadata.desired.is_empty());
    assert_eq!(cleared.state.reported, next.state.reported);
}

#[test]
fn a_scalar_replaced_by_an_object_and_back() {
    let doc = Document::default().updated(&update(json!({"state": {"reported": {"k": 1}}})), 1);
    let doc = doc.updated(&update(json!({"state": {"reported": {"k": {"z": 2}}}})), 2);
    assert_eq!(
        doc.metadata.reported,
        obj(json!({"k": {"z": {"timestamp": 2}}}))
    );
    let doc = doc.updated(&update(json!({"state": {"reported": {"k": "s"}}})), 3);
    assert_eq!(doc.state.reported, obj(json!({"k": "s"})));
    assert_eq!(doc.metadata.reported, obj(json!({"k": {"timestamp": 3}})));
}

#[test]
fn delta_is_the_desired_keys_that_differ() {
    let doc = Document::default().updated(
        &update(json!({"state": {
            "desired": {"same": 1, "other": 2, "missing": 3, "o": {"a": 1, "b": 2}},
            "reported": {"same": 1, "other": 9, "o": {"a": 1, "b": 0}, "extra": 5}
        }})),
        7,
    );
    let (state, metadata) = doc.delta();
    assert_eq!(state, obj(json!({"other": 2, "missing": 3, "o": {"b": 2}})));
    assert_eq!(
        metadata,
        obj(
            json!({"other": {"timestamp": 7}, "missing": {"timestamp": 7}, "o": {"b": {"timestamp": 7}}})
        )
    );
    let (iota, _) = doc.iota();
    assert_eq!(
        iota,
        obj(json!({"other": 2, "missing": 3, "o": {"a": 1, "b": 2}}))
    );
}

#[test]
fn bad_requests_are_rejected_with_a_reason() {
    let bad = |payload: &[u8]| Update::parse(payload).expect_err("rejected");
    assert_eq!(bad(b"{not json"), Rejection::INVALID_JSON);
    assert_eq!(bad(b"[1]"), Rejection::INVALID_JSON);
    assert_eq!(bad(b""), Rejection::INVALID_JSON);
    assert_eq!(
        bad(br#"{"desired": {}}"#).message,
        "Missing required node: state"
    );
    assert_eq!(
        bad(br#"{"state": 1}"#).message,
        "State node must be an object"
    );
    assert_eq!(bad(br#"{"state": {"desired": 1}}"#).code, 400);
    assert_eq!(
        bad(br#"{"state": {}, "version": "x"}"#).message,
        "Invalid version"
    );
    assert_eq!(Update::parse(b"{}"), Ok(Update::default()));
    assert_eq!(
        Update::parse(br#"{"state": {}, "version": 4}"#).map(|u| u.version),
        Ok(Some(4))
    );
}

#[test]
fn stored_documents_read_back_without_nulls() {
    // As aMQTT stores them: deleted keys kept as null, version and timestamp null.
    let stored = json!({
        "state": {"desired": {"a": 1, "gone": null}, "reported": {"o": {"p": null, "q": 2}}},
        "metadata": {"desired": {"a": {"timestamp": 5}, "gone": null}, "reported": {}},
        "version": null, "timestamp": null
    });
    let doc = Document::from_stored(&stored, 3, 99);
    assert_eq!(doc.state.desired, obj(json!({"a": 1})));
    assert_eq!(doc.state.reported, obj(json!({"o": {"q": 2}})));
    assert_eq!(doc.metadata.desired, obj(json!({"a": {"timestamp": 5}})));
    assert_eq!((doc.version, doc.timestamp), (3, 99));
    let round = Document::from_stored(&doc.to_json(), 3, 99);
    assert_eq!(round, doc);
}
