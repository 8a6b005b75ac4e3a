//! The SQLite data path: applying a batch of ops, and streaming the stored rows back.

use amqtt_core::store::{MessageState, Restore, StoreOp};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, TransactionBehavior, params};

use crate::decode::{self, MessageRow, SessionRow, Skip};
use crate::schema;

/// Applies `batch` in order in one transaction (taking the write lock at its start).
pub(super) fn commit(conn: &mut Connection, batch: &[StoreOp]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for op in batch {
        apply(&tx, op)?;
    }
    tx.commit()
}

/// Applies one op with the connection's cached statements.
fn apply(conn: &Connection, op: &StoreOp) -> rusqlite::Result<()> {
    match op {
        StoreOp::Session(s) => {
            let will = s.will.as_ref();
            conn.prepare_cached(schema::UPSERT_SESSION)?
                .execute(params![
                    &*s.client_id,
                    s.username.as_deref(),
                    i64::from(s.keep_alive),
                    will.map(|w| &*w.topic),
                    will.map(|w| &w.message[..]),
                    will.map(|w| w.qos as u8),
                    will.map(|w| w.retain),
                    s.disconnected_at.map(decode::millis),
                    s.protocol.level(),
                    decode::encode_properties(s.properties.as_deref()),
                    decode::encode_properties(will.and_then(|w| w.properties.as_deref())),
                ])?;
        }
        StoreOp::SessionGone { client_id } => {
            for sql in [
                schema::DELETE_SESSION,
                schema::DELETE_SESSION_SUBSCRIPTIONS,
                schema::DELETE_SESSION_MESSAGES,
                schema::DELETE_SESSION_QOS2,
            ] {
                conn.prepare_cached(sql)?.execute([&**client_id])?;
            }
        }
        StoreOp::Subscribe {
            client_id,
            filter,
            grant,
        } => {
            conn.prepare_cached(schema::UPSERT_SUBSCRIPTION)?
                .execute(params![
                    &**client_id,
                    &**filter,
                    grant.qos as u8,
                    grant.stored_options(),
                    grant.id.map(|id| id.get()),
                ])?;
        }
        StoreOp::Unsubscribe { client_id, filter } => {
            conn.prepare_cached(schema::DELETE_SUBSCRIPTION)?
                .execute([&**client_id, &**filter])?;
        }
        StoreOp::Message { client_id, message } => {
            let m = &message.message;
            conn.prepare_cached(schema::UPSERT_MESSAGE)?
                .execute(params![
                    &**client_id,
                    decode::entry(message.entry),
                    message.state.code(),
                    message.packet_id.map(|id| id.get()),
                    m.qos as u8,
                    m.retain,
                    &*m.topic,
                    &m.payload[..],
                    decode::encode_properties(m.properties.as_deref()),
                ])?;
        }
        StoreOp::MessageSent {
            client_id,
            entry,
            packet_id,
        } => {
            conn.prepare_cached(schema::MESSAGE_SENT)?.execute(params![
                MessageState::Sent.code(),
                packet_id.get(),
                &**client_id,
                decode::entry(*entry),
            ])?;
        }
        StoreOp::MessageReleased { client_id, entry } => {
            conn.prepare_cached(schema::MESSAGE_RELEASED)?
                .execute(params![
                    MessageState::Released.code(),
                    &[] as &[u8],
                    &**client_id,
                    decode::entry(*entry),
                ])?;
        }
        StoreOp::MessageDone { client_id, entry } => {
            conn.prepare_cached(schema::MESSAGE_DONE)?
                .execute(params![&**client_id, decode::entry(*entry)])?;
        }
        StoreOp::Qos2Received {
            client_id,
            packet_id,
        } => {
            conn.prepare_cached(schema::QOS2_RECEIVED)?
                .execute(params![&**client_id, packet_id.get()])?;
        }
        StoreOp::Qos2Released {
            client_id,
            packet_id,
        } => {
            conn.prepare_cached(schema::QOS2_RELEASED)?
                .execute(params![&**client_id, packet_id.get()])?;
        }
        StoreOp::Retained {
            topic,
            message: Some(m),
        } => {
            conn.prepare_cached(schema::UPSERT_RETAINED)?
                .execute(params![
                    &**topic,
                    m.qos as u8,
                    &m.payload[..],
                    decode::encode_properties(m.properties.as_deref()),
                ])?;
        }
        StoreOp::Retained {
            topic,
            message: None,
        } => {
            conn.prepare_cached(schema::DELETE_RETAINED)?
                .execute([&**topic])?;
        }
    }
    Ok(())
}

/// Streams every stored record into `restore`, one row at a time: sessions, subscriptions,
/// messages (in entry order), QoS 2 ids, retained messages. A row that does not decode is
/// skipped; an error of the database itself ends the load.
pub(super) fn load<R: Restore>(conn: &Connection, restore: &mut R) -> rusqlite::Result<()> {
    each_row(conn, schema::SELECT_SESSIONS, restore, |row, restore| {
        restore.session(session_row(row)?.decode()?);
        Ok(())
    })?;
    each_row(
        conn,
        schema::SELECT_SUBSCRIPTIONS,
        restore,
        |row, restore| {
            const WHY: Skip = "a subscription row with a value of the wrong type";
            let client_id = client_id(row, WHY)?;
            let filter = text(row, 1).ok_or(WHY)?;
            let filter = std::str::from_utf8(filter)
                .map_err(|_| "a subscription filter that is not UTF-8")?;
            let qos = int(row, 2).ok_or(WHY)?;
            let options = opt(row, 3, int).ok_or(WHY)?;
            let id = opt(row, 4, int).ok_or(WHY)?;
            let grant = decode::grant(qos, options, id)
                .ok_or("a subscription with an invalid QoS, options or identifier")?;
            restore.subscription(client_id, filter, grant);
            Ok(())
        },
    )?;
    each_row(conn, schema::SELECT_MESSAGES, restore, |row, restore| {
        const WHY: Skip = "a message row with a value of the wrong type";
        let client_id = client_id(row, WHY)?;
        let message = MessageRow {
            entry: int(row, 1).ok_or(WHY)?,
            state: int(row, 2).ok_or(WHY)?,
            packet_id: opt(row, 3, int).ok_or(WHY)?,
            qos: int(row, 4).ok_or(WHY)?,
            retain: int(row, 5).ok_or(WHY)?,
            topic: text(row, 6).ok_or(WHY)?,
            payload: text(row, 7).ok_or(WHY)?,
            properties: opt(row, 8, text).ok_or(WHY)?,
        };
        restore.message(client_id, message.decode()?);
        Ok(())
    })?;
    each_row(conn, schema::SELECT_QOS2, restore, |row, restore| {
        const WHY: Skip = "a QoS 2 id row with a value of the wrong type";
        let client_id = client_id(row, WHY)?;
        let id = int(row, 1).ok_or(WHY)?;
        let packet_id = decode::packet_id(id).ok_or("a QoS 2 id that is not a packet id")?;
        restore.qos2_received(client_id, packet_id);
        Ok(())
    })?;
    each_row(conn, schema::SELECT_RETAINED, restore, |row, restore| {
        const WHY: Skip = "a retained message row with a value of the wrong type";
        let message = decode::retained(
            text(row, 0).ok_or(WHY)?,
            int(row, 1).ok_or(WHY)?,
            text(row, 2).ok_or(WHY)?,
            opt(row, 3, text).ok_or(WHY)?,
        )?;
        restore.retained(message);
        Ok(())
    })
}

/// Runs `sql` and hands each row to `each`; a row it refuses is reported skipped.
fn each_row<R: Restore>(
    conn: &Connection,
    sql: &str,
    restore: &mut R,
    mut each: impl FnMut(&Row<'_>, &mut R) -> Result<(), Skip>,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        if let Err(why) = each(row, restore) {
            restore.skipped(why);
        }
    }
    Ok(())
}

/// The columns of a session row.
fn session_row<'r>(row: &'r Row<'_>) -> Result<SessionRow<'r>, Skip> {
    let columns = || {
        Some(SessionRow {
            client_id: text(row, 0)?,
            username: opt(row, 1, text)?,
            keep_alive: int(row, 2)?,
            will_topic: opt(row, 3, text)?,
            will_payload: opt(row, 4, text)?,
            will_qos: opt(row, 5, int)?,
            will_retain: opt(row, 6, int)?,
            disconnected_at_ms: opt(row, 7, int)?,
            protocol: opt(row, 8, int)?,
            properties: opt(row, 9, text)?,
            will_properties: opt(row, 10, text)?,
        })
    };
    columns().ok_or("a session row with a value of the wrong type")
}

/// Column 0 as a client id.
fn client_id<'r>(row: &'r Row<'_>, wrong_type: Skip) -> Result<&'r str, Skip> {
    std::str::from_utf8(text(row, 0).ok_or(wrong_type)?)
        .map_err(|_| "a row whose client id is not UTF-8")
}

/// An INTEGER column.
fn int(row: &Row<'_>, i: usize) -> Option<i64> {
    match row.get_ref(i).ok()? {
        ValueRef::Integer(v) => Some(v),
        _ => None,
    }
}

/// A TEXT or BLOB column, as bytes (their UTF-8 is checked where it matters).
fn text<'r>(row: &'r Row<'_>, i: usize) -> Option<&'r [u8]> {
    match row.get_ref(i).ok()? {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Some(bytes),
        _ => None,
    }
}

/// A column that may be NULL: `Some(None)` for NULL, `None` for a value `get` refuses.
fn opt<'r, 's, T>(
    row: &'r Row<'s>,
    i: usize,
    get: impl FnOnce(&'r Row<'s>, usize) -> Option<T>,
) -> Option<Option<T>> {
    match row.get_ref(i).ok()? {
        ValueRef::Null => Some(None),
        _ => get(row, i).map(Some),
    }
}
