//! The events of the edge cases: a refused connect, a will published when a connection drops,
//! and a QoS 2 retransmission.

use std::time::Duration;

use amqtt_core::codec::{ByteString, Packet, QoS, ReasonCode};
use amqtt_core::plugin::{
    BrokerContext, FromConfig, Hooks, Plugin, PluginError, SessionInfo, Verdict,
};
use amqtt_tests::{RECV_TIMEOUT, RawClient, TestBroker, connect_packet};

use crate::checker::{Flow, connect};
use crate::recorder::{Recorder, RecorderConfig};

#[tokio::test]
async fn a_refused_connect_is_sent_without_a_session_and_fires_no_client_event() {
    /// Denies every client.
    #[derive(Default)]
    struct Bouncer(Recorder);
    impl Plugin for Bouncer {
        const HOOKS: Hooks = Hooks::PACKET_RECEIVED
            .union(Hooks::PACKET_SENT)
            .union(Hooks::AUTHENTICATE)
            .union(Hooks::CLIENT_CONNECTED)
            .union(Hooks::CLIENT_DISCONNECTED);
        fn on_mqtt_packet_received(&self, packet: &Packet, session: Option<&SessionInfo>) {
            self.0.on_mqtt_packet_received(packet, session);
        }
        fn on_mqtt_packet_sent(&self, packet: &Packet, session: Option<&SessionInfo>) {
            self.0.on_mqtt_packet_sent(packet, session);
        }
        async fn authenticate(&self, session: &SessionInfo) -> Verdict {
            self.0.authenticate(session).await;
            Verdict::Deny
        }
        async fn on_broker_client_connected(&self, client_id: &str, session: &SessionInfo) {
            self.0.on_broker_client_connected(client_id, session).await;
        }
        async fn on_broker_client_disconnected(&self, client_id: &str, session: &SessionInfo) {
            self.0
                .on_broker_client_disconnected(client_id, session)
                .await;
        }
    }
    impl FromConfig for Bouncer {
        const NAME: &'static str = "bouncer";
        type Config = RecorderConfig;
        fn build(_config: RecorderConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
            Ok(Bouncer::default())
        }
    }

    let broker = TestBroker::<Bouncer>::start_with_plugins("plugins: {}\n").await;
    let mut connect = connect_packet("x1", true);
    connect.username = Some(ByteString::from("eve"));
    let (mut client, ack) = RawClient::connect_with(broker.addr, connect).await;
    assert_eq!(ack.code, ReasonCode::NotAuthorized);
    client.expect_closed(RECV_TIMEOUT).await;
    let mut flow = Flow {
        recorder: &broker.handle.plugins().0,
        seen: 0,
    };
    flow.step(
        "refused connect",
        &[
            "packet_received CONNECT none",
            "authenticate x1 user=eve",
            "packet_sent CONNACK none",
        ],
    )
    .await;
    flow.finish().await;
}

#[tokio::test]
async fn a_will_is_checked_and_broadcast_before_client_disconnected() {
    let broker = TestBroker::<Recorder>::start_with_plugins("plugins:\n  recorder:\n").await;
    let mut flow = Flow {
        recorder: broker.handle.plugins(),
        seen: 0,
    };
    flow.step("start", &["pre_start", "post_start"]).await;
    let mut sub = connect(&broker, "s", true, None, false).await;
    sub.subscribe(1, &[("w/#", QoS::AtLeastOnce)]).await;
    flow.step(
        "s connects and subscribes",
        &[
            "packet_received CONNECT none",
            "authenticate s user=none",
            "packet_sent CONNACK s",
            "client_connected s",
            "packet_received SUBSCRIBE s",
            "topic_filtering s w/# Subscribe",
            "packet_sent SUBACK s",
            "client_subscribed s w/# qos1",
        ],
    )
    .await;
    let mut with_will = connect_packet("w1", true);
    with_will.will = Some(amqtt_tests::will("w/gone", "bye", QoS::AtLeastOnce, false));
    let (client, ack) = RawClient::connect_with(broker.addr, with_will).await;
    assert_eq!(ack.code, ReasonCode::Success);
    flow.step(
        "w1 connects",
        &[
            "packet_received CONNECT none",
            "authenticate w1 user=none",
            "packet_sent CONNACK w1",
            "client_connected w1",
        ],
    )
    .await;

    // The connection drops without DISCONNECT: the will goes through the publish check and
    // broadcast (it was not received as a PUBLISH), then client_disconnected fires.
    drop(client);
    let id = sub
        .expect_publish("w/gone", "bye", QoS::AtLeastOnce, false)
        .await;
    flow.step(
        "w1 drops; its will is published",
        &[
            "topic_filtering w1 w/gone Publish",
            "message_broadcast w1 w/gone qos1 bye",
            "topic_filtering s w/gone Receive",
            "packet_sent PUBLISH s",
            "client_disconnected w1",
        ],
    )
    .await;
    sub.ack(QoS::AtLeastOnce, id).await;
    flow.step("s acknowledges", &["packet_received PUBACK s"])
        .await;

    // A QoS 2 retransmission (DUP) is received again but broadcast once.
    let mut c1 = connect(&broker, "c1", true, None, false).await;
    flow.step(
        "c1 connects",
        &[
            "packet_received CONNECT none",
            "authenticate c1 user=none",
            "packet_sent CONNACK c1",
            "client_connected c1",
        ],
    )
    .await;
    let mut publish = amqtt_tests::publish_packet("w/2", "once", QoS::ExactlyOnce, false, Some(7));
    c1.send(Packet::Publish(publish.clone())).await;
    assert_eq!(c1.recv().await, Packet::PubRec(amqtt_tests::pid(7).into()));
    publish.dup = true;
    c1.send(Packet::Publish(publish)).await;
    assert_eq!(c1.recv().await, Packet::PubRec(amqtt_tests::pid(7).into()));
    let id = sub
        .expect_publish("w/2", "once", QoS::AtLeastOnce, false)
        .await;
    flow.step(
        "c1 publishes at QoS 2 twice",
        &[
            "packet_received PUBLISH c1",
            "message_received c1 w/2 qos2 once",
            "topic_filtering c1 w/2 Publish",
            "message_broadcast c1 w/2 qos2 once",
            "topic_filtering s w/2 Receive",
            "packet_sent PUBLISH s",
            "packet_sent PUBREC c1",
            "packet_received PUBLISH c1",
            "message_received c1 w/2 qos2 once",
            "packet_sent PUBREC c1",
        ],
    )
    .await;
    sub.ack(QoS::AtLeastOnce, id).await;
    sub.expect_silence(Duration::from_millis(200)).await;
    flow.step("s acknowledges", &["packet_received PUBACK s"])
        .await;
    flow.finish().await;
}
