//! `max_subscriptions_per_client`: a filter past the limit is refused in its SUBACK slot.

use amqtt_core::codec::{ByteString, Packet, Properties, QoS, ReasonCode, SubAckCode, Subscribe};
use amqtt_tests::v5::V5Client;
use amqtt_tests::{RawClient, pid};

use super::{broker_with_sys, sys_shows, sys_watcher};

#[tokio::test]
async fn filters_past_the_limit_are_refused_and_resubscribing_does_not_count() {
    let broker = broker_with_sys("max_subscriptions_per_client: 2\n").await;
    let mut sys = sys_watcher(&broker, "subscriptions/refused/quota").await;
    let mut client = RawClient::connect(broker.addr, "c311").await;
    let granted = |qos| SubAckCode::Success(qos);
    // A 3.1.1 client reads 0x80 on the wire, an MQTT 5.0 client 0x97 Quota exceeded.
    let refused_311 = SubAckCode::FAILURE;
    let refused_v5 = SubAckCode::Failure(ReasonCode::QuotaExceeded);
    // The same filter twice in one SUBSCRIBE is one subscription.
    let ack = client
        .subscribe(
            1,
            &[
                ("a", QoS::AtMostOnce),
                ("a", QoS::AtLeastOnce),
                ("b", QoS::AtLeastOnce),
                ("c", QoS::AtLeastOnce),
            ],
        )
        .await;
    assert_eq!(
        ack.codes,
        [
            granted(QoS::AtMostOnce),
            granted(QoS::AtLeastOnce),
            granted(QoS::AtLeastOnce),
            refused_311
        ]
    );
    // Re-subscribing an existing filter replaces it; a new one is still refused.
    let ack = client
        .subscribe(2, &[("b", QoS::ExactlyOnce), ("d", QoS::AtMostOnce)])
        .await;
    assert_eq!(ack.codes, [granted(QoS::ExactlyOnce), refused_311]);
    let ack = client.subscribe(3, &[("e", QoS::AtMostOnce)]).await;
    assert_eq!(ack.codes, [refused_311]);
    // Room made by an UNSUBSCRIBE is room again.
    client.unsubscribe(4, &["a"]).await;
    let ack = client.subscribe(5, &[("e", QoS::AtMostOnce)]).await;
    assert_eq!(ack.codes, [granted(QoS::AtMostOnce)]);

    let mut v5 = V5Client::connect(broker.addr, "c5", Properties::default()).await;
    v5.subscribe(1, "x", QoS::AtMostOnce).await;
    v5.subscribe(2, "y", QoS::AtMostOnce).await;
    v5.send(Packet::Subscribe(Subscribe {
        packet_id: pid(3),
        filters: vec![(ByteString::from("z"), QoS::AtMostOnce.into())],
        properties: None,
    }))
    .await;
    match v5.recv().await {
        Packet::SubAck(ack) => assert_eq!(ack.codes, [refused_v5]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    assert_eq!(broker.handle.stats().subscriptions_refused.get(), 4);
    assert_eq!(broker.handle.subscription_count(), 5);
    sys_shows(&mut sys, "subscriptions/refused/quota", 4).await;
    broker.stop().await;
}
