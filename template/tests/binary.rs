//! The `my-broker` binary itself: it starts from a configuration file, logs, admits a client,
//! and exits 0 on SIGTERM.

use amqtt_test::{BrokerProcess, RawClient};

#[tokio::test]
async fn my_broker_serves_and_exits_0_on_sigterm() {
    let broker = BrokerProcess::start(
        env!("CARGO_BIN_EXE_my-broker"),
        "plugins:\n  auth_anonymous:\n",
    )
    .await;

    RawClient::connect(broker.addr, "bin").await;
    assert!(broker.log().contains("listening"), "{}", broker.log());

    let status = broker.terminate().await;
    assert_eq!(status.code(), Some(0), "exit status {status}");
}
