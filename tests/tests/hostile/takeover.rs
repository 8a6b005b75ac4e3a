//! Case 6: the takeover storm. Fifty tasks share ONE client id with clean session 1, each
//! looping CONNECT -> CONNACK -> SUBSCRIBE `leak/#` QoS 1 -> reset, for about three seconds, so
//! SUBSCRIBEs race with the takeovers that end their sessions. Afterwards the subscription
//! index must hold exactly the live sessions' subscriptions: none of the storm's, then the one
//! of a last client that connects with the same id (and a message reaches it once).

use std::net::SocketAddr;
use std::time::Duration;

use amqtt_core::codec::{Packet, QoS, Subscribe};
use amqtt_tests::{connect_packet, pid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::support::{Hostile, LiveBroker, Probe, XorShift, encode, open_raw, reset};

/// Tasks in the storm.
const TASKS: u64 = 50;
/// How long the storm lasts.
const STORM: Duration = Duration::from_secs(3);
/// The client id every storm connection uses.
const CLIENT_ID: &str = "storm";

/// One storm task: until `end`, connect as [`CLIENT_ID`], wait for the CONNACK, send SUBSCRIBE
/// `leak/#` and reset the socket, at once or after a short random pause or the SUBACK. Returns
/// how many CONNACKs it got.
async fn storm_task(addr: SocketAddr, seed: u64, end: Instant) -> u32 {
    let mut rng = XorShift::new(seed);
    let connect = encode(&Packet::Connect(Box::new(connect_packet(CLIENT_ID, true))));
    let subscribe = encode(&Packet::Subscribe(Subscribe {
        packet_id: pid(1),
        filters: vec![("leak/#".into(), QoS::AtLeastOnce.into())],
        properties: None,
    }));
    let mut connacks = 0;
    while Instant::now() < end {
        let mut stream = open_raw(addr).await;
        // A takeover may close this connection at any point: errors just end the cycle.
        if stream.write_all(&connect).await.is_err() {
            reset(stream);
            continue;
        }
        let mut connack = [0u8; 4];
        match tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut connack)).await {
            Ok(Ok(_)) => {
                assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
                connacks += 1;
            }
            Ok(Err(_)) => {
                reset(stream);
                continue;
            }
            Err(_) => panic!("no CONNACK and no close within 2 s"),
        }
        let _ = stream.write_all(&subscribe).await;
        match rng.below(3) {
            0 => {}
            1 => tokio::time::sleep(Duration::from_micros(rng.below(2000) as u64)).await,
            _ => {
                let mut suback = [0u8; 5];
                let _ = tokio::time::timeout(
                    Duration::from_millis(100),
                    stream.read_exact(&mut suback),
                )
                .await;
            }
        }
        reset(stream);
    }
    connacks
}

/// Asserts the broker's consistency check passes and the subscription index holds exactly
/// `expected` entries, the sum of the sessions' own lists; `when` names the moment.
async fn assert_subscriptions(broker: &LiveBroker, expected: usize, when: &str) {
    broker.assert_consistent().await;
    let sessions = broker.ctx.sessions();
    let listed: usize = sessions.iter().map(|s| s.subscriptions.len()).sum();
    let indexed = broker.ctx.subscription_count();
    assert_eq!(
        (indexed, listed),
        (expected, expected),
        "{when}: subscriptions (in the index, in the sessions) vs expected; sessions {sessions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_storm_on_one_client_id_leaves_no_orphan_subscription() {
    let broker = LiveBroker::start("").await;
    let probe = Probe::start(broker.addr(), "takeover").await;

    let end = Instant::now() + STORM;
    let tasks: Vec<_> = (1..=TASKS)
        .map(|seed| tokio::spawn(storm_task(broker.addr(), seed, end)))
        .collect();
    let mut connacks = 0;
    for task in tasks {
        connacks += task.await.expect("storm task");
    }
    let (report, _probe) = probe.finish().await;
    println!("takeover storm: {connacks} CONNACKs, probe {report:?}");
    assert!(
        connacks > u32::try_from(TASKS).expect("small"),
        "the storm hardly ran"
    );

    // No storm connection is left: only the probe's session and its one subscription.
    broker.settle(1).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while broker.broker.handle.session_count() != 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        broker.broker.handle.session_count(),
        1,
        "only the probe's session"
    );
    assert_subscriptions(&broker, 1, "after the storm").await;

    // One client left with the id: its subscription, the probe's, and nothing else; a message
    // to `leak/x` reaches it once.
    let mut last = Hostile::connect(broker.addr(), CLIENT_ID, true).await;
    last.subscribe(1, &[("leak/#", QoS::AtLeastOnce)]).await;
    assert_subscriptions(&broker, 2, "with one storm client left").await;
    let mut publisher = Hostile::connect(broker.addr(), "leak-publisher", true).await;
    publisher
        .send(&Packet::Publish(amqtt_tests::publish_packet(
            "leak/x",
            "once",
            QoS::AtMostOnce,
            false,
            None,
        )))
        .await;
    match last.recv().await {
        Packet::Publish(p) => assert_eq!(&p.payload[..], b"once"),
        other => panic!("expected the PUBLISH, got {other:?}"),
    }
    assert_eq!(last.recv_within(Duration::from_millis(200)).await, None);
}
