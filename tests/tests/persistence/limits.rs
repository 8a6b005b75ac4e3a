//! A restored queue obeys the broker's `max_queued` as configured at the restart: a smaller
//! limit keeps the oldest messages, in order, and drops the rest.

use amqtt_core::codec::QoS;

use super::support::{
    SILENCE, StoreBroker, connect, disconnect, expect_message, publish, subscribe,
};

#[tokio::test]
async fn a_restored_queue_is_cut_to_the_new_max_queued() {
    let store = "  persistence:\n    clear_on_shutdown: false\n";
    let mut broker = StoreBroker::start("max_queued: 100\n", store).await;
    let addr = broker.addr();
    let mut sub = connect(addr, "limit-sub", false, false).await;
    subscribe(&mut sub, 1, &[("limit/#", QoS::AtLeastOnce)]).await;
    disconnect(sub).await;
    let mut publisher = connect(addr, "limit-pub", true, false).await;
    for n in 0..10u16 {
        let payload = format!("m{n}");
        publish(
            &mut publisher,
            "limit/t",
            payload.as_bytes(),
            QoS::AtLeastOnce,
            false,
            n + 1,
        )
        .await;
    }
    disconnect(publisher).await;
    broker.terminate().await;

    broker.restart_with_extra("max_queued: 4\n").await;
    let mut sub = connect(addr, "limit-sub", false, true).await;
    for n in 0..4 {
        let payload = format!("m{n}");
        expect_message(
            &mut sub,
            "limit/t",
            payload.as_bytes(),
            QoS::AtLeastOnce,
            false,
        )
        .await;
    }
    sub.expect_silence(SILENCE).await;
    disconnect(sub).await;
    broker.terminate().await;
}
