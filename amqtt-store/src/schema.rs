//! The stored schema and every SQL statement, for both backends.
//!
//! One logical schema: SQLite and PostgreSQL differ only in column types, so the DDL is given
//! per dialect and the statements are shared. Parameters are written `$1`, `$2`, ... in the
//! order they first appear: PostgreSQL numbers them so, and SQLite reads `$1` as a named
//! parameter that takes the next free index, which is then the same (a test checks it).
//!
//! The schema evolves through [`MIGRATIONS`]: entry `i` takes a database from version `i` to
//! version `i + 1`, so an empty database runs them all and version 1's creation is entry 0. A
//! version 2 appends its `ALTER TABLE`s as entry 1 and needs nothing else.

/// One step of the schema, in both dialects.
pub(crate) struct Migration {
    /// The SQLite statements.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) sqlite: &'static str,
    /// The PostgreSQL statements.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) postgres: &'static str,
}

/// The schema's steps; `MIGRATIONS[i]` takes version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        sqlite: "
        CREATE TABLE amqtt_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
        CREATE TABLE amqtt_sessions (
            client_id TEXT PRIMARY KEY NOT NULL,
            username TEXT,
            keep_alive INTEGER NOT NULL,
            will_topic TEXT,
            will_payload BLOB,
            will_qos INTEGER,
            will_retain INTEGER,
            disconnected_at_ms INTEGER
        );
        CREATE TABLE amqtt_subscriptions (
            client_id TEXT NOT NULL,
            filter TEXT NOT NULL,
            qos INTEGER NOT NULL,
            PRIMARY KEY (client_id, filter)
        ) WITHOUT ROWID;
        CREATE TABLE amqtt_messages (
            client_id TEXT NOT NULL,
            entry INTEGER NOT NULL,
            state INTEGER NOT NULL,
            packet_id INTEGER,
            qos INTEGER NOT NULL,
            retain INTEGER NOT NULL,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            PRIMARY KEY (client_id, entry)
        );
        CREATE TABLE amqtt_qos2 (
            client_id TEXT NOT NULL,
            packet_id INTEGER NOT NULL,
            PRIMARY KEY (client_id, packet_id)
        ) WITHOUT ROWID;
        CREATE TABLE amqtt_retained (
            topic TEXT PRIMARY KEY NOT NULL,
            qos INTEGER NOT NULL,
            payload BLOB NOT NULL
        );
    ",
        postgres: "
        CREATE TABLE amqtt_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE amqtt_sessions (
            client_id TEXT PRIMARY KEY,
            username TEXT,
            keep_alive INTEGER NOT NULL,
            will_topic TEXT,
            will_payload BYTEA,
            will_qos SMALLINT,
            will_retain SMALLINT,
            disconnected_at_ms BIGINT
        );
        CREATE TABLE amqtt_subscriptions (
            client_id TEXT NOT NULL,
            filter TEXT NOT NULL,
            qos SMALLINT NOT NULL,
            PRIMARY KEY (client_id, filter)
        );
        CREATE TABLE amqtt_messages (
            client_id TEXT NOT NULL,
            entry BIGINT NOT NULL,
            state SMALLINT NOT NULL,
            packet_id INTEGER,
            qos SMALLINT NOT NULL,
            retain SMALLINT NOT NULL,
            topic TEXT NOT NULL,
            payload BYTEA NOT NULL,
            PRIMARY KEY (client_id, entry)
        );
        CREATE TABLE amqtt_qos2 (
            client_id TEXT NOT NULL,
            packet_id INTEGER NOT NULL,
            PRIMARY KEY (client_id, packet_id)
        );
        CREATE TABLE amqtt_retained (
            topic TEXT PRIMARY KEY,
            qos SMALLINT NOT NULL,
            payload BYTEA NOT NULL
        );
    ",
    },
    Migration {
        // Version 2: MQTT 5.0. A session's protocol (NULL: 3.1.1) and CONNECT properties, the
        // will's properties, and the properties of queued and retained messages, each as an
        // encoded MQTT 5.0 property block (NULL: none); a subscription's options No Local and
        // Retain As Published (their bits of the SUBSCRIBE options byte, 0x04 and 0x08; NULL:
        // none) and its Subscription Identifier (NULL: none).
        sqlite: "
        ALTER TABLE amqtt_subscriptions ADD COLUMN options INTEGER;
        ALTER TABLE amqtt_subscriptions ADD COLUMN subscription_id INTEGER;
        ALTER TABLE amqtt_sessions ADD COLUMN protocol INTEGER;
        ALTER TABLE amqtt_sessions ADD COLUMN properties BLOB;
        ALTER TABLE amqtt_sessions ADD COLUMN will_properties BLOB;
        ALTER TABLE amqtt_messages ADD COLUMN properties BLOB;
        ALTER TABLE amqtt_retained ADD COLUMN properties BLOB;
    ",
        postgres: "
        ALTER TABLE amqtt_subscriptions ADD COLUMN options SMALLINT;
        ALTER TABLE amqtt_subscriptions ADD COLUMN subscription_id INTEGER;
        ALTER TABLE amqtt_sessions ADD COLUMN protocol SMALLINT;
        ALTER TABLE amqtt_sessions ADD COLUMN properties BYTEA;
        ALTER TABLE amqtt_sessions ADD COLUMN will_properties BYTEA;
        ALTER TABLE amqtt_messages ADD COLUMN properties BYTEA;
        ALTER TABLE amqtt_retained ADD COLUMN properties BYTEA;
    ",
    },
];

/// The schema version this build writes.
pub(crate) const CURRENT: u32 = MIGRATIONS.len() as u32;

/// The tables of the current schema; a database missing one of them is damaged.
pub(crate) const TABLES: &[&str] = &[
    "amqtt_meta",
    "amqtt_sessions",
    "amqtt_subscriptions",
    "amqtt_messages",
    "amqtt_qos2",
    "amqtt_retained",
];

/// The version stored in `amqtt_meta`.
pub(crate) const GET_VERSION: &str = "SELECT value FROM amqtt_meta WHERE key = 'schema_version'";
/// Sets the version: `$1` text.
pub(crate) const SET_VERSION: &str = "INSERT INTO amqtt_meta (key, value) \
     VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Writes a session: client id, username, keep-alive, will topic, payload, QoS, retain, the
/// disconnection time in unix milliseconds, protocol level, properties, will properties.
pub(crate) const UPSERT_SESSION: &str = "INSERT INTO amqtt_sessions (client_id, username, \
     keep_alive, will_topic, will_payload, will_qos, will_retain, disconnected_at_ms, protocol, \
     properties, will_properties) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (client_id) DO UPDATE SET \
     username = excluded.username, keep_alive = excluded.keep_alive, \
     will_topic = excluded.will_topic, will_payload = excluded.will_payload, \
     will_qos = excluded.will_qos, will_retain = excluded.will_retain, \
     disconnected_at_ms = excluded.disconnected_at_ms, protocol = excluded.protocol, \
     properties = excluded.properties, will_properties = excluded.will_properties";
/// Deletes a session (`$1` client id) and, with the three after it, everything it has.
pub(crate) const DELETE_SESSION: &str = "DELETE FROM amqtt_sessions WHERE client_id = $1";
/// Deletes a session's subscriptions.
pub(crate) const DELETE_SESSION_SUBSCRIPTIONS: &str =
    "DELETE FROM amqtt_subscriptions WHERE client_id = $1";
/// Deletes a session's messages.
pub(crate) const DELETE_SESSION_MESSAGES: &str = "DELETE FROM amqtt_messages WHERE client_id = $1";
/// Deletes a session's QoS 2 ids.
pub(crate) const DELETE_SESSION_QOS2: &str = "DELETE FROM amqtt_qos2 WHERE client_id = $1";

/// Writes a subscription: client id, filter, QoS, options, subscription identifier.
pub(crate) const UPSERT_SUBSCRIPTION: &str = "INSERT INTO amqtt_subscriptions (client_id, \
     filter, qos, options, subscription_id) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (client_id, filter) DO UPDATE SET qos = excluded.qos, \
     options = excluded.options, subscription_id = excluded.subscription_id";
/// Deletes a subscription: client id, filter.
pub(crate) const DELETE_SUBSCRIPTION: &str =
    "DELETE FROM amqtt_subscriptions WHERE client_id = $1 AND filter = $2";

/// Writes a message: client id, entry, state, packet id, QoS, retain, topic, payload,
/// properties.
pub(crate) const UPSERT_MESSAGE: &str = "INSERT INTO amqtt_messages (client_id, entry, state, \
     packet_id, qos, retain, topic, payload, properties) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (client_id, entry) DO UPDATE SET state = excluded.state, \
     packet_id = excluded.packet_id, qos = excluded.qos, retain = excluded.retain, \
     topic = excluded.topic, payload = excluded.payload, properties = excluded.properties";
/// Marks a message sent: state, packet id, client id, entry.
pub(crate) const MESSAGE_SENT: &str =
    "UPDATE amqtt_messages SET state = $1, packet_id = $2 WHERE client_id = $3 AND entry = $4";
/// Marks a message released and drops its payload: state, empty payload, client id, entry.
pub(crate) const MESSAGE_RELEASED: &str =
    "UPDATE amqtt_messages SET state = $1, payload = $2 WHERE client_id = $3 AND entry = $4";
/// Deletes a message: client id, entry.
pub(crate) const MESSAGE_DONE: &str =
    "DELETE FROM amqtt_messages WHERE client_id = $1 AND entry = $2";

/// Records a QoS 2 id: client id, packet id.
pub(crate) const QOS2_RECEIVED: &str = "INSERT INTO amqtt_qos2 (client_id, packet_id) \
     VALUES ($1, $2) ON CONFLICT (client_id, packet_id) DO NOTHING";
/// Frees a QoS 2 id: client id, packet id.
pub(crate) const QOS2_RELEASED: &str =
    "DELETE FROM amqtt_qos2 WHERE client_id = $1 AND packet_id = $2";

/// Writes a retained message: topic, QoS, payload, properties.
pub(crate) const UPSERT_RETAINED: &str = "INSERT INTO amqtt_retained (topic, qos, payload, \
     properties) VALUES ($1, $2, $3, $4) ON CONFLICT (topic) DO UPDATE SET \
     qos = excluded.qos, payload = excluded.payload, properties = excluded.properties";
/// Clears a retained message: topic.
pub(crate) const DELETE_RETAINED: &str = "DELETE FROM amqtt_retained WHERE topic = $1";

/// Every session, in the column order of [`UPSERT_SESSION`].
pub(crate) const SELECT_SESSIONS: &str = "SELECT client_id, username, keep_alive, will_topic, \
     will_payload, will_qos, will_retain, disconnected_at_ms, protocol, properties, \
     will_properties FROM amqtt_sessions ORDER BY client_id";
/// Every subscription: client id, filter, QoS, options, subscription identifier.
pub(crate) const SELECT_SUBSCRIPTIONS: &str = "SELECT client_id, filter, qos, options, \
     subscription_id FROM amqtt_subscriptions ORDER BY client_id, filter";
/// Every message, in entry order within a session: client id, entry, state, packet id, QoS,
/// retain, topic, payload, properties.
pub(crate) const SELECT_MESSAGES: &str = "SELECT client_id, entry, state, packet_id, qos, \
     retain, topic, payload, properties FROM amqtt_messages ORDER BY client_id, entry";
/// Every QoS 2 id: client id, packet id.
pub(crate) const SELECT_QOS2: &str =
    "SELECT client_id, packet_id FROM amqtt_qos2 ORDER BY client_id, packet_id";
/// Every retained message: topic, QoS, payload, properties.
pub(crate) const SELECT_RETAINED: &str =
    "SELECT topic, qos, payload, properties FROM amqtt_retained ORDER BY topic";

/// The statements with parameters, for the check that both dialects number them alike.
#[cfg(all(test, feature = "sqlite"))]
pub(crate) const WITH_PARAMETERS: &[&str] = &[
    SET_VERSION,
    UPSERT_SESSION,
    DELETE_SESSION,
    DELETE_SESSION_SUBSCRIPTIONS,
    DELETE_SESSION_MESSAGES,
    DELETE_SESSION_QOS2,
    UPSERT_SUBSCRIPTION,
    DELETE_SUBSCRIPTION,
    UPSERT_MESSAGE,
    MESSAGE_SENT,
    MESSAGE_RELEASED,
    MESSAGE_DONE,
    QOS2_RECEIVED,
    QOS2_RELEASED,
    UPSERT_RETAINED,
    DELETE_RETAINED,
];
