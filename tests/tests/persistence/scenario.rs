//! The standard state a restart must keep, stored by [`prepare`] and checked by [`verify`]: a
//! persistent session with a QoS 1 filter `<prefix>/a/#` and a QoS 2 filter `<prefix>/b`,
//! messages of both QoS (text and binary payloads) queued for it while it is offline, and a
//! retained message. Used by the restart, configuration-form and PostgreSQL tests.

use std::net::SocketAddr;

use amqtt_core::codec::QoS;
use amqtt_tests::RawClient;

use super::support::{
    Expected, SILENCE, connect, disconnect, expect_message, expect_messages, publish, subscribe,
};

/// Names of one scenario's clients and topics.
pub(crate) struct Scenario {
    prefix: String,
}

/// One queued message: topic suffix, payload, the QoS it is delivered at.
struct Queued {
    topic: &'static str,
    payload: Vec<u8>,
    qos: QoS,
}

/// The messages queued for the offline session, in publish order.
fn queued() -> Vec<Queued> {
    vec![
        Queued {
            topic: "a/1",
            payload: b"one".to_vec(),
            qos: QoS::AtLeastOnce,
        },
        Queued {
            topic: "b",
            payload: vec![0, 1, 2, 0xff, 0, 0xfe],
            qos: QoS::ExactlyOnce,
        },
        Queued {
            topic: "a/x/y",
            payload: b"three".to_vec(),
            qos: QoS::AtLeastOnce,
        },
        Queued {
            topic: "b",
            payload: b"four".to_vec(),
            qos: QoS::ExactlyOnce,
        },
        Queued {
            topic: "a/2",
            payload: (0..=255u8).collect(),
            qos: QoS::AtLeastOnce,
        },
    ]
}

/// The retained message's payload.
const RETAINED: &[u8] = b"retained \x00\x01 state";

impl Scenario {
    /// A scenario whose client ids and topics start with `prefix` (unique within the store).
    pub(crate) fn new(prefix: &str) -> Scenario {
        Scenario {
            prefix: prefix.to_owned(),
        }
    }

    fn topic(&self, suffix: &str) -> String {
        format!("{}/{suffix}", self.prefix)
    }

    fn subscriber(&self) -> String {
        format!("{}-sub", self.prefix)
    }

    /// Stores the state on the broker at `addr`: the session with its two subscriptions, taken
    /// offline; the queued messages (each published at the QoS it is delivered at); and the
    /// retained message, on a topic the session does not match.
    pub(crate) async fn prepare(&self, addr: SocketAddr) {
        let mut sub = connect(addr, &self.subscriber(), false, false).await;
        subscribe(
            &mut sub,
            1,
            &[
                (&self.topic("a/#"), QoS::AtLeastOnce),
                (&self.topic("b"), QoS::ExactlyOnce),
            ],
        )
        .await;
        disconnect(sub).await;

        let mut publisher = connect(addr, &format!("{}-pub", self.prefix), true, false).await;
        for (n, message) in (1..).zip(queued()) {
            let topic = self.topic(message.topic);
            publish(
                &mut publisher,
                &topic,
                &message.payload,
                message.qos,
                false,
                n,
            )
            .await;
        }
        let retained = self.topic("r/status");
        publish(
            &mut publisher,
            &retained,
            RETAINED,
            QoS::AtLeastOnce,
            true,
            99,
        )
        .await;
        disconnect(publisher).await;
    }

    /// Checks the state after a restart: the session is present, the queued messages arrive in
    /// order with their payloads and QoS, a new subscriber gets the retained message (retain
    /// 1), and new messages reach the restored subscriptions at their restored QoS (a QoS 2
    /// publish to `a/...` arrives at QoS 1, the filter's).
    pub(crate) async fn verify(&self, addr: SocketAddr) {
        let mut sub = connect(addr, &self.subscriber(), false, true).await;
        let queued = queued();
        let topics: Vec<String> = queued.iter().map(|m| self.topic(m.topic)).collect();
        let expected: Vec<Expected<'_>> = queued
            .iter()
            .zip(&topics)
            .map(|(m, topic)| (topic.as_str(), m.payload.as_slice(), m.qos, false))
            .collect();
        expect_messages(&mut sub, &expected).await;
        sub.expect_silence(SILENCE).await;

        let retained = self.topic("r/status");
        let mut reader = connect(addr, &format!("{}-reader", self.prefix), true, false).await;
        subscribe(&mut reader, 1, &[(&self.topic("r/#"), QoS::AtLeastOnce)]).await;
        expect_message(&mut reader, &retained, RETAINED, QoS::AtLeastOnce, true).await;

        let mut publisher = connect(addr, &format!("{}-pub", self.prefix), true, false).await;
        let after_a = self.topic("a/after");
        let after_b = self.topic("b");
        publish(
            &mut publisher,
            &after_a,
            b"after a",
            QoS::ExactlyOnce,
            false,
            1,
        )
        .await;
        expect_message(&mut sub, &after_a, b"after a", QoS::AtLeastOnce, false).await;
        publish(
            &mut publisher,
            &after_b,
            b"after b",
            QoS::ExactlyOnce,
            false,
            2,
        )
        .await;
        expect_message(&mut sub, &after_b, b"after b", QoS::ExactlyOnce, false).await;
        sub.expect_silence(SILENCE).await;
        disconnect_all(vec![sub, reader, publisher]).await;
    }

    /// Connects the subscriber again with clean-session 0 and asserts the broker has no session
    /// for it (session-present 0) and no retained message under the prefix.
    pub(crate) async fn verify_gone(&self, addr: SocketAddr) {
        let sub = connect(addr, &self.subscriber(), false, false).await;
        let mut reader = connect(addr, &format!("{}-reader", self.prefix), true, false).await;
        subscribe(&mut reader, 1, &[(&self.topic("r/#"), QoS::AtLeastOnce)]).await;
        reader.expect_silence(SILENCE).await;
        disconnect_all(vec![sub, reader]).await;
    }
}

/// Disconnects each client.
async fn disconnect_all(clients: Vec<RawClient>) {
    for client in clients {
        client.disconnect().await;
    }
}
