//! The PostgreSQL data path: applying a batch of ops with prepared statements, and streaming
//! the stored rows back.

use amqtt_core::store::{MessageState, Restore, StoreOp};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, Error, IsolationLevel, Row, Statement, Transaction};

use crate::decode::{self, MessageRow, SessionRow, Skip};
use crate::schema;

/// The commit path's statements, prepared once per connection.
pub(super) struct Statements {
    upsert_session: Statement,
    delete_session: [Statement; 4],
    upsert_subscription: Statement,
    delete_subscription: Statement,
    upsert_message: Statement,
    message_sent: Statement,
    message_released: Statement,
    message_done: Statement,
    qos2_received: Statement,
    qos2_released: Statement,
    upsert_retained: Statement,
    delete_retained: Statement,
}

impl Statements {
    /// Prepares every statement on `client`.
    pub(super) fn prepare(client: &mut Client) -> Result<Statements, Error> {
        let mut prepare = |sql| client.prepare(sql);
        Ok(Statements {
            upsert_session: prepare(schema::UPSERT_SESSION)?,
            delete_session: [
                prepare(schema::DELETE_SESSION)?,
                prepare(schema::DELETE_SESSION_SUBSCRIPTIONS)?,
                prepare(schema::DELETE_SESSION_MESSAGES)?,
                prepare(schema::DELETE_SESSION_QOS2)?,
            ],
            upsert_subscription: prepare(schema::UPSERT_SUBSCRIPTION)?,
            delete_subscription: prepare(schema::DELETE_SUBSCRIPTION)?,
            upsert_message: prepare(schema::UPSERT_MESSAGE)?,
            message_sent: prepare(schema::MESSAGE_SENT)?,
            message_released: prepare(schema::MESSAGE_RELEASED)?,
            message_done: prepare(schema::MESSAGE_DONE)?,
            qos2_received: prepare(schema::QOS2_RECEIVED)?,
            qos2_released: prepare(schema::QOS2_RELEASED)?,
            upsert_retained: prepare(schema::UPSERT_RETAINED)?,
            delete_retained: prepare(schema::DELETE_RETAINED)?,
        })
    }
}

/// Applies `batch` in order in one transaction.
pub(super) fn commit(client: &mut Client, st: &Statements, batch: &[StoreOp]) -> Result<(), Error> {
    let mut tx = client.transaction()?;
    for op in batch {
        apply(&mut tx, st, op)?;
    }
    tx.commit()
}

/// A QoS, flag or state as a SMALLINT.
fn small(value: impl Into<u8>) -> i16 {
    i16::from(value.into())
}

/// Applies one op.
fn apply(tx: &mut Transaction<'_>, st: &Statements, op: &StoreOp) -> Result<(), Error> {
    match op {
        StoreOp::Session(s) => {
            let client_id: &str = &s.client_id;
            let will = s.will.as_ref();
            tx.execute(
                &st.upsert_session,
                &[
                    &client_id,
                    &s.username.as_deref(),
                    &i32::from(s.keep_alive),
                    &will.map(|w| &*w.topic),
                    &will.map(|w| &w.message[..]),
                    &will.map(|w| small(w.qos as u8)),
                    &will.map(|w| small(w.retain)),
                    &s.disconnected_at.map(decode::millis),
                    &small(s.protocol.level()),
                    &decode::encode_properties(s.properties.as_deref()),
                    &decode::encode_properties(will.and_then(|w| w.properties.as_deref())),
                ],
            )?;
        }
        StoreOp::SessionGone { client_id } => {
            let client_id: &str = client_id;
            for statement in &st.delete_session {
                tx.execute(statement, &[&client_id])?;
            }
        }
        StoreOp::Subscribe {
            client_id,
            filter,
            grant,
        } => {
            let (client_id, filter): (&str, &str) = (client_id, filter);
            // At most `MAX_VAR_INT`: it fits.
            let id = grant.id.and_then(|id| i32::try_from(id.get()).ok());
            tx.execute(
                &st.upsert_subscription,
                &[
                    &client_id,
                    &filter,
                    &small(grant.qos as u8),
                    &small(grant.stored_options()),
                    &id,
                ],
            )?;
        }
        StoreOp::Unsubscribe { client_id, filter } => {
            let (client_id, filter): (&str, &str) = (client_id, filter);
            tx.execute(&st.delete_subscription, &[&client_id, &filter])?;
        }
        StoreOp::Message { client_id, message } => {
            let client_id: &str = client_id;
            let m = &message.message;
            let topic: &str = &m.topic;
            tx.execute(
                &st.upsert_message,
                &[
                    &client_id,
                    &decode::entry(message.entry),
                    &small(message.state.code()),
                    &message.packet_id.map(|id| i32::from(id.get())),
                    &small(m.qos as u8),
                    &small(m.retain),
                    &topic,
                    &&m.payload[..],
                    &decode::encode_properties(m.properties.as_deref()),
                ],
            )?;
        }
        StoreOp::MessageSent {
            client_id,
            entry,
            packet_id,
        } => {
            let client_id: &str = client_id;
            tx.execute(
                &st.message_sent,
                &[
                    &small(MessageState::Sent.code()),
                    &i32::from(packet_id.get()),
                    &client_id,
                    &decode::entry(*entry),
                ],
            )?;
        }
        StoreOp::MessageReleased { client_id, entry } => {
            let client_id: &str = client_id;
            let empty: &[u8] = &[];
            tx.execute(
                &st.message_released,
                &[
                    &small(MessageState::Released.code()),
                    &empty,
                    &client_id,
                    &decode::entry(*entry),
                ],
            )?;
        }
        StoreOp::MessageDone { client_id, entry } => {
            let client_id: &str = client_id;
            tx.execute(&st.message_done, &[&client_id, &decode::entry(*entry)])?;
        }
        StoreOp::Qos2Received {
            client_id,
            packet_id,
        } => {
            let client_id: &str = client_id;
            tx.execute(
                &st.qos2_received,
                &[&client_id, &i32::from(packet_id.get())],
            )?;
        }
        StoreOp::Qos2Released {
            client_id,
            packet_id,
        } => {
            let client_id: &str = client_id;
            tx.execute(
                &st.qos2_released,
                &[&client_id, &i32::from(packet_id.get())],
            )?;
        }
        StoreOp::Retained {
            topic,
            message: Some(m),
        } => {
            let topic: &str = topic;
            tx.execute(
                &st.upsert_retained,
                &[
                    &topic,
                    &small(m.qos as u8),
                    &&m.payload[..],
                    &decode::encode_properties(m.properties.as_deref()),
                ],
            )?;
        }
        StoreOp::Retained {
            topic,
            message: None,
        } => {
            let topic: &str = topic;
            tx.execute(&st.delete_retained, &[&topic])?;
        }
    }
    Ok(())
}

/// Deletes every stored row (the schema and its version stay).
pub(super) fn clear(client: &mut Client) -> Result<(), Error> {
    let mut tx = client.transaction()?;
    for table in schema::TABLES.iter().filter(|t| **t != "amqtt_meta") {
        tx.batch_execute(&format!("DELETE FROM {table}"))?;
    }
    tx.commit()
}

/// Streams every stored record into `restore` from one consistent snapshot: sessions,
/// subscriptions, messages (in entry order), QoS 2 ids, retained messages. A row that does not
/// decode is skipped; an error of the database ends the load.
pub(super) fn load(client: &mut Client, restore: &mut dyn Restore) -> Result<(), Error> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    each_row(&mut tx, schema::SELECT_SESSIONS, restore, |row, restore| {
        restore.session(session_row(row)?.decode()?);
        Ok(())
    })?;
    each_row(
        &mut tx,
        schema::SELECT_SUBSCRIPTIONS,
        restore,
        |row, restore| {
            const WHY: Skip = "a subscription row with a value of the wrong type";
            let client_id: &str = row.try_get(0).map_err(|_| WHY)?;
            let filter: &str = row.try_get(1).map_err(|_| WHY)?;
            let qos: i16 = row.try_get(2).map_err(|_| WHY)?;
            let options: Option<i16> = row.try_get(3).map_err(|_| WHY)?;
            let id: Option<i32> = row.try_get(4).map_err(|_| WHY)?;
            let grant = decode::grant(i64::from(qos), options.map(i64::from), id.map(i64::from))
                .ok_or("a subscription with an invalid QoS, options or identifier")?;
            restore.subscription(client_id, filter, grant);
            Ok(())
        },
    )?;
    each_row(&mut tx, schema::SELECT_MESSAGES, restore, |row, restore| {
        const WHY: Skip = "a message row with a value of the wrong type";
        let client_id: &str = row.try_get(0).map_err(|_| WHY)?;
        let small = |i| row.try_get::<_, i16>(i).map(i64::from).map_err(|_| WHY);
        let message = MessageRow {
            entry: row.try_get(1).map_err(|_| WHY)?,
            state: small(2)?,
            packet_id: row
                .try_get::<_, Option<i32>>(3)
                .map_err(|_| WHY)?
                .map(i64::from),
            qos: small(4)?,
            retain: small(5)?,
            topic: row.try_get::<_, &str>(6).map_err(|_| WHY)?.as_bytes(),
            payload: row.try_get(7).map_err(|_| WHY)?,
            properties: row.try_get(8).map_err(|_| WHY)?,
        };
        restore.message(client_id, message.decode()?);
        Ok(())
    })?;
    each_row(&mut tx, schema::SELECT_QOS2, restore, |row, restore| {
        const WHY: Skip = "a QoS 2 id row with a value of the wrong type";
        let client_id: &str = row.try_get(0).map_err(|_| WHY)?;
        let id: i32 = row.try_get(1).map_err(|_| WHY)?;
        let packet_id =
            decode::packet_id(i64::from(id)).ok_or("a QoS 2 id that is not a packet id")?;
        restore.qos2_received(client_id, packet_id);
        Ok(())
    })?;
    each_row(&mut tx, schema::SELECT_RETAINED, restore, |row, restore| {
        const WHY: Skip = "a retained message row with a value of the wrong type";
        let topic: &str = row.try_get(0).map_err(|_| WHY)?;
        let qos: i16 = row.try_get(1).map_err(|_| WHY)?;
        let payload: &[u8] = row.try_get(2).map_err(|_| WHY)?;
        let properties: Option<&[u8]> = row.try_get(3).map_err(|_| WHY)?;
        let qos = i64::from(qos);
        restore.retained(decode::retained(
            topic.as_bytes(),
            qos,
            payload,
            properties,
        )?);
        Ok(())
    })?;
    tx.commit()
}

/// Runs `sql`, streaming its rows to `each`; a row it refuses is reported skipped.
fn each_row(
    tx: &mut Transaction<'_>,
    sql: &str,
    restore: &mut dyn Restore,
    mut each: impl FnMut(&Row, &mut dyn Restore) -> Result<(), Skip>,
) -> Result<(), Error> {
    let mut rows = tx.query_raw(sql, std::iter::empty::<&(dyn ToSql + Sync)>())?;
    while let Some(row) = rows.next()? {
        if let Err(why) = each(&row, restore) {
            restore.skipped(why);
        }
    }
    Ok(())
}

/// The columns of a session row.
fn session_row(row: &Row) -> Result<SessionRow<'_>, Skip> {
    let columns = || -> Result<SessionRow<'_>, Error> {
        Ok(SessionRow {
            client_id: row.try_get::<_, &str>(0)?.as_bytes(),
            username: row.try_get::<_, Option<&str>>(1)?.map(str::as_bytes),
            keep_alive: i64::from(row.try_get::<_, i32>(2)?),
            will_topic: row.try_get::<_, Option<&str>>(3)?.map(str::as_bytes),
            will_payload: row.try_get(4)?,
            will_qos: row.try_get::<_, Option<i16>>(5)?.map(i64::from),
            will_retain: row.try_get::<_, Option<i16>>(6)?.map(i64::from),
            disconnected_at_ms: row.try_get(7)?,
            protocol: row.try_get::<_, Option<i16>>(8)?.map(i64::from),
            properties: row.try_get(9)?,
            will_properties: row.try_get(10)?,
        })
    };
    columns().map_err(|_| "a session row with a value of the wrong type")
}
