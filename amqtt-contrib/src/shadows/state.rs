//! State documents and their merging, with AWS IoT device-shadow semantics: an update merges
//! its `desired` and `reported` sections into the shadow's (objects recursively, anything else
//! replaced), `null` deletes a key (`"desired": null` the whole section), and every key written
//! gets a metadata timestamp.

use serde_json::{Map, Value, json};

/// A JSON object.
pub type Object = Map<String, Value>;

/// The `desired` and `reported` sections of a state or of its metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sections {
    /// What the application wants the device to be.
    pub desired: Object,
    /// What the device says it is.
    pub reported: Object,
}

impl Sections {
    /// `{"desired": ..., "reported": ...}`.
    pub fn to_json(&self) -> Value {
        json!({"desired": self.desired, "reported": self.reported})
    }

    /// The sections of `value` (an absent section is empty); `null` values are dropped, as aMQTT
    /// stores deleted keys as `null`.
    fn from_json(value: Option<&Value>) -> Sections {
        let section = |name: &str| {
            value
                .and_then(|v| v.get(name))
                .and_then(Value::as_object)
                .map(without_nulls)
                .unwrap_or_default()
        };
        Sections {
            desired: section("desired"),
            reported: section("reported"),
        }
    }
}

/// A shadow's document at one version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    /// The state.
    pub state: Sections,
    /// For every key of the state, `{"timestamp": <seconds>}` of its last update (an object's
    /// keys each have their own).
    pub metadata: Sections,
    /// The version: 1 for the first update, 0 for a shadow that does not exist yet.
    pub version: i64,
    /// When this version was written (seconds since the epoch).
    pub timestamp: i64,
}

impl Document {
    /// `{"state", "metadata", "version", "timestamp"}`: the form of `update/documents` and of
    /// the `state` column.
    pub fn to_json(&self) -> Value {
        json!({
            "state": self.state.to_json(),
            "metadata": self.metadata.to_json(),
            "version": self.version,
            "timestamp": self.timestamp,
        })
    }

    /// The document stored as `json` (aMQTT's `state` column) at `version`, written at
    /// `timestamp`.
    pub fn from_stored(json: &Value, version: i64, timestamp: i64) -> Document {
        Document {
            state: Sections::from_json(json.get("state")),
            metadata: Sections::from_json(json.get("metadata")),
            version,
            timestamp,
        }
    }

    /// The document after `update`, at `now` (the version and timestamp are the caller's).
    pub fn updated(&self, update: &Update, now: i64) -> Document {
        let mut next = self.clone();
        apply(
            &mut next.state.desired,
            &mut next.metadata.desired,
            update.desired.as_ref(),
            now,
        );
        apply(
            &mut next.state.reported,
            &mut next.metadata.reported,
            update.reported.as_ref(),
            now,
        );
        next
    }

    /// The desired keys whose values differ from the reported ones (objects compared key by
    /// key), with their desired metadata.
    pub fn delta(&self) -> (Object, Object) {
        delta(
            &self.state.desired,
            &self.state.reported,
            &self.metadata.desired,
            true,
        )
    }

    /// aMQTT's `iota`: the top-level desired keys whose values differ from the reported ones
    /// (objects compared whole), with their desired metadata.
    pub fn iota(&self) -> (Object, Object) {
        delta(
            &self.state.desired,
            &self.state.reported,
            &self.metadata.desired,
            false,
        )
    }
}

/// A change to one section.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    /// `null`: delete the whole section.
    Clear,
    /// An object: merge it in.
    Merge(Object),
}

/// A valid update request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// The change to `desired`, if the request has one.
    pub desired: Option<Patch>,
    /// The change to `reported`, if the request has one.
    pub reported: Option<Patch>,
    /// The version the request expects the shadow to be at (AWS's optimistic locking).
    pub version: Option<i64>,
}

/// Why a request is refused: the `code` and `message` of a `rejected` reply (AWS's codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// An HTTP-like status: 400 bad request, 404 not found, 409 version conflict, 500 failure.
    pub code: u16,
    /// What is wrong.
    pub message: &'static str,
}

impl Rejection {
    /// The payload is not a JSON object.
    pub const INVALID_JSON: Rejection = Rejection::bad("Invalid JSON");
    /// No shadow has that device id and name (aMQTT's message).
    pub const NOT_FOUND: Rejection = Rejection {
        code: 404,
        message: "shadow not found",
    };
    /// The request's `version` is not the shadow's.
    pub const VERSION_CONFLICT: Rejection = Rejection {
        code: 409,
        message: "Version conflict",
    };
    /// The database failed.
    pub const INTERNAL: Rejection = Rejection {
        code: 500,
        message: "Internal service failure",
    };

    const fn bad(message: &'static str) -> Rejection {
        Rejection { code: 400, message }
    }
}

impl Update {
    /// Reads an update request: a JSON object with a `state` object (aMQTT accepts `{}` too,
    /// as an update that changes nothing) and optionally an integer `version`.
    pub fn parse(payload: &[u8]) -> Result<Update, Rejection> {
        let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(payload) else {
            return Err(Rejection::INVALID_JSON);
        };
        if request.is_empty() {
            return Ok(Update::default());
        }
        let version = match request.get("version") {
            None => None,
            Some(v) => Some(v.as_i64().ok_or(Rejection::bad("Invalid version"))?),
        };
        let state = match request.get("state") {
            None => return Err(Rejection::bad("Missing required node: state")),
            Some(Value::Object(state)) => state,
            Some(_) => return Err(Rejection::bad("State node must be an object")),
        };
        let patch = |name: &str, error: &'static str| match state.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(Patch::Clear)),
            Some(Value::Object(o)) => Ok(Some(Patch::Merge(o.clone()))),
            Some(_) => Err(Rejection::bad(error)),
        };
        Ok(Update {
            desired: patch("desired", "Desired node must be an object")?,
            reported: patch("reported", "Reported node must be an object")?,
            version,
        })
    }
}

/// Applies `patch` to a section and its metadata.
fn apply(state: &mut Object, metadata: &mut Object, patch: Option<&Patch>, now: i64) {
    match patch {
        None => {}
        Some(Patch::Clear) => {
            state.clear();
            metadata.clear();
        }
        Some(Patch::Merge(patch)) => merge(state, metadata, patch, now),
    }
}

/// Merges `patch` into `state`, stamping `metadata`: objects merge key by key, `null` deletes,
/// anything else replaces.
fn merge(state: &mut Object, metadata: &mut Object, patch: &Object, now: i64) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                state.remove(key);
                metadata.remove(key);
            }
            Value::Object(inner) => {
                if !state.get(key).is_some_and(Value::is_object) {
                    state.insert(key.clone(), Value::Object(Object::new()));
                    metadata.insert(key.clone(), Value::Object(Object::new()));
                }
                let meta = metadata
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Object::new()));
                if !meta.is_object() {
                    *meta = Value::Object(Object::new());
                }
                if let (Some(Value::Object(s)), Value::Object(m)) = (state.get_mut(key), meta) {
                    merge(s, m, inner, now);
                }
            }
            other => {
                state.insert(key.clone(), other.clone());
                metadata.insert(key.clone(), json!({ "timestamp": now }));
            }
        }
    }
}

/// The keys of `desired` that `reported` lacks or holds another value for, recursing into
/// objects when `deep`, and their metadata from `meta`.
fn delta(desired: &Object, reported: &Object, meta: &Object, deep: bool) -> (Object, Object) {
    let mut state = Object::new();
    let mut metadata = Object::new();
    for (key, value) in desired {
        let differs = match (value, reported.get(key)) {
            (Value::Object(d), Some(Value::Object(r))) if deep => {
                let empty = Object::new();
                let m = meta.get(key).and_then(Value::as_object).unwrap_or(&empty);
                let (s, m) = delta(d, r, m, true);
                if !s.is_empty() {
                    state.insert(key.clone(), Value::Object(s));
                    metadata.insert(key.clone(), Value::Object(m));
                }
                continue;
            }
            (value, Some(r)) => value != r,
            (_, None) => true,
        };
        if differs {
            state.insert(key.clone(), value.clone());
            if let Some(m) = meta.get(key) {
                metadata.insert(key.clone(), m.clone());
            }
        }
    }
    (state, metadata)
}

/// `object` without its `null` values, at every depth of nested objects.
fn without_nulls(object: &Object) -> Object {
    object
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let v = match v {
                Value::Object(o) => Value::Object(without_nulls(o)),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests;
