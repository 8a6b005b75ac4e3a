//! A persistent session keeps its shared subscriptions (`$share/<group>/<filter>`) across a
//! restart: they are stored by their whole filter and restored as group memberships.

use amqtt_core::codec::{Packet, QoS};

use super::support::{
    SILENCE, StoreBroker, connect, disconnect, expect_messages, publish, subscribe,
};

/// A SQLite store in the working directory that a clean stop keeps.
const KEEP: &str = "  persistence:\n    connection: sqlite+aiosqlite:///store.db\n    \
                    clear_on_shutdown: false\n";

#[tokio::test]
async fn a_restart_keeps_a_persistent_members_groups() {
    let mut broker = StoreBroker::start("", KEEP).await;
    let mut member = connect(broker.addr(), "member", false, false).await;
    subscribe(&mut member, 1, &[("$share/g/jobs/+", QoS::AtLeastOnce)]).await;
    disconnect(member).await;
    broker.terminate().await;
    broker.restart().await;

    let mut publisher = connect(broker.addr(), "publisher", true, false).await;
    publish(&mut publisher, "jobs/a", b"1", QoS::AtLeastOnce, false, 1).await;
    publish(&mut publisher, "jobs/b", b"2", QoS::AtLeastOnce, false, 2).await;
    let mut member = connect(broker.addr(), "member", false, true).await;
    expect_messages(
        &mut member,
        &[
            ("jobs/a", b"1", QoS::AtLeastOnce, false),
            ("jobs/b", b"2", QoS::AtLeastOnce, false),
        ],
    )
    .await;
    // One group, one member: a second online member now takes every other message.
    let mut other = connect(broker.addr(), "other", true, false).await;
    subscribe(&mut other, 1, &[("$share/g/jobs/+", QoS::AtLeastOnce)]).await;
    for n in 3..7u16 {
        let payload = n.to_string();
        publish(
            &mut publisher,
            "jobs/c",
            payload.as_bytes(),
            QoS::AtLeastOnce,
            false,
            n,
        )
        .await;
    }
    let mut got = Vec::new();
    for client in [&mut member, &mut other] {
        while let Some(packet) = client.recv_within(SILENCE).await {
            let Packet::Publish(message) = packet else {
                panic!("expected PUBLISH, got {packet:?}");
            };
            if let Some(id) = message.packet_id {
                client.send(Packet::PubAck(id.into())).await;
            }
            got.push(String::from_utf8_lossy(&message.payload).into_owned());
        }
    }
    got.sort();
    assert_eq!(got, ["3", "4", "5", "6"]);
    broker.terminate().await;
}
