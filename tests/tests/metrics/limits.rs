//! The limits' counters in `/metrics`, moved by real refusals and a real flood over sockets
//! and read back by a real HTTP scrape.

use std::time::Instant;

use amqtt_core::codec::{Packet, QoS, SubAckCode};
use amqtt_tests::{RawClient, pid, publish_packet};
use bytes::BytesMut;

use super::scrape::scrape;
use super::start;

#[tokio::test]
async fn a_refused_subscription_and_a_throttled_flood_show_in_the_limits_counters() {
    // One subscription per client; 20 messages a second with bursts of 5.
    let (broker, metrics) = start(
        true,
        "max_subscriptions_per_client: 1\nmax_messages_per_second: 20\n\
         max_messages_per_second_burst: 5\n",
    )
    .await;
    let before = scrape(metrics).await;
    assert_eq!(before.value("amqtt_subscriptions_refused_total"), 0.0);
    assert_eq!(before.value("amqtt_publishes_throttled_total"), 0.0);

    // Two filters where one is allowed: the second is refused in its SUBACK slot.
    let mut client = RawClient::connect(broker.addr, "limited").await;
    let ack = client
        .subscribe(1, &[("a", QoS::AtMostOnce), ("b", QoS::AtMostOnce)])
        .await;
    assert_eq!(
        ack.codes,
        [SubAckCode::Success(QoS::AtMostOnce), SubAckCode::FAILURE]
    );
    let refused = scrape(metrics).await;
    assert_eq!(refused.value("amqtt_subscriptions_refused_total"), 1.0);
    assert_eq!(refused.value("amqtt_subscriptions"), 1.0);

    // 15 QoS 1 messages at once: the burst of 5 passes, the other 10 wait for tokens (one may
    // find a token refilled meanwhile: 9 or 10 pauses), and every one is acknowledged.
    const FLOOD: u16 = 15;
    let mut out = BytesMut::new();
    for i in 1..=FLOOD {
        let message = format!("m{i}");
        Packet::Publish(publish_packet(
            "flood",
            &message,
            QoS::AtLeastOnce,
            false,
            Some(i),
        ))
        .encode(&mut out);
    }
    let started = Instant::now();
    client.send_raw(&out).await;
    for i in 1..=FLOOD {
        assert_eq!(client.recv().await, Packet::PubAck(pid(i).into()));
    }
    let took = started.elapsed();
    let after = scrape(metrics).await;
    let throttled = after.value("amqtt_publishes_throttled_total");
    assert!(
        (9.0..=10.0).contains(&throttled),
        "{throttled} pauses for {FLOOD} messages at a burst of 5 (took {took:?})"
    );
    assert_eq!(
        after.value("amqtt_messages_received_total{qos=\"1\"}"),
        f64::from(FLOOD)
    );
    assert_eq!(after.value("amqtt_subscriptions_refused_total"), 1.0);
    broker.stop().await;
}
