//! An aMQTT configuration naming the shadow plugins, run by the stock plugin set of the `amqtt`
//! binary (`(PackagedPlugins, ContribPlugins)`).

use amqtt_contrib::ContribPlugins;
use amqtt_core::codec::{ByteString, QoS, ReasonCode};
use amqtt_plugins::PackagedPlugins;
use amqtt_tests::{RawClient, TestBroker, connect_packet};
use serde_json::json;

use crate::support::{listen, reply, request, sqlite_url, unique};

#[tokio::test]
async fn the_stock_broker_runs_an_amqtt_shadow_configuration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml = format!(
        "plugins:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: true
  amqtt.contrib.shadows.ShadowPlugin:
    connection: {}
  amqtt.contrib.shadows.ShadowTopicAuthPlugin:
    superusers:
      - central-app
",
        sqlite_url(&dir)
    );
    let broker = TestBroker::<(PackagedPlugins, ContribPlugins)>::start_with_plugins(&yaml).await;
    let dev = unique("dev");
    let connect_as = |client_id: String, username: &str| {
        let mut connect = connect_packet(&client_id, true);
        connect.username = Some(ByteString::from(username));
        connect
    };
    let (mut device, ack) =
        RawClient::connect_with(broker.addr, connect_as(unique("c"), &dev)).await;
    assert_eq!(ack.code, ReasonCode::Success);
    listen(&mut device, &dev, "main", &["update/delta"]).await;
    let (mut app, ack) =
        RawClient::connect_with(broker.addr, connect_as(unique("c"), "central-app")).await;
    assert_eq!(ack.code, ReasonCode::Success);
    listen(&mut app, &dev, "main", &["update/accepted"]).await;

    request(
        &mut app,
        &dev,
        "main",
        "update",
        r#"{"state": {"desired": {"fw": "2.1"}}}"#,
    )
    .await;
    assert_eq!(
        reply(&mut app, &dev, "main", "update/accepted").await["version"],
        1
    );
    let delta = reply(&mut device, &dev, "main", "update/delta").await;
    assert_eq!(delta["state"], json!({"fw": "2.1"}));

    // The device reports; the application sees the new version.
    request(
        &mut device,
        &dev,
        "main",
        "update",
        r#"{"state": {"reported": {"fw": "2.1"}}}"#,
    )
    .await;
    let accepted = reply(&mut app, &dev, "main", "update/accepted").await;
    assert_eq!(accepted["version"], 2);
    assert_eq!(accepted["state"]["reported"], json!({"fw": "2.1"}));
    // Other topics are closed with the shadow topic plugin on.
    let asked = [("sensors/#", QoS::AtMostOnce)];
    assert_eq!(
        device.subscribe(2, &asked).await.codes,
        [amqtt_core::codec::SubAckCode::FAILURE]
    );
}
