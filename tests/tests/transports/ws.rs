//! MQTT over WebSocket and secure WebSocket: subprotocol negotiation, packets split across and
//! packed into binary frames, ping, text frames, `max_connections`, and one broker with all four
//! listener kinds.

use std::net::SocketAddr;

use amqtt_core::codec::{Packet, QoS, ReasonCode, SubAckCode, Subscribe};
use amqtt_tests::{RawClient, connect_packet, pid, publish_packet, wait_until};
use bytes::Bytes;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::common::{Pki, WsMqtt, encode, start, tls_mqtt_connect, wss_connected};

/// A broker whose `default` listener is a WebSocket one.
const WS_YAML: &str = "listeners:\n  default:\n    type: ws\n    bind: 127.0.0.1:0\nplugins: {}\n";

/// A WebSocket client on `addr`, offering `protocols`.
async fn ws_client(
    addr: SocketAddr,
    protocols: Option<&str>,
) -> Result<(WsMqtt<TcpStream>, Option<String>), WsError> {
    let tcp = TcpStream::connect(addr).await.expect("tcp");
    WsMqtt::handshake(tcp, addr, "ws", protocols).await
}

/// Connects a WebSocket client offering `mqtt` and asserts the CONNACK.
async fn ws_connected(addr: SocketAddr, client_id: &str) -> WsMqtt<TcpStream> {
    let (mut client, protocol) = ws_client(addr, Some("mqtt")).await.expect("handshake");
    assert_eq!(protocol.as_deref(), Some("mqtt"));
    client.connect(client_id).await;
    client
}

#[tokio::test]
async fn packets_split_across_and_packed_into_frames() {
    let (broker, _) = start(WS_YAML, ()).await;
    let (mut client, protocol) = ws_client(broker.addr, Some("mqtt"))
        .await
        .expect("handshake");
    assert_eq!(protocol.as_deref(), Some("mqtt"));

    // CONNECT split across two frames.
    let connect = encode(&[Packet::Connect(Box::new(connect_packet("ws-client", true)))]);
    client.send_frame(&connect[..5]).await;
    client.send_frame(&connect[5..]).await;
    assert!(matches!(client.recv().await, Packet::ConnAck(a) if a.code == ReasonCode::Success));

    // SUBSCRIBE and PUBLISH packed into one frame.
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: pid(1),
        filters: vec![("ws/#".into(), QoS::AtLeastOnce.into())],
        properties: None,
    });
    let publish = publish_packet("ws/a", "packed", QoS::AtLeastOnce, false, Some(2));
    client
        .send_frame(&encode(&[subscribe, Packet::Publish(publish)]))
        .await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(client.recv().await);
    }
    assert!(got.iter().any(|p| matches!(p, Packet::SubAck(a)
        if a.codes == vec![SubAckCode::Success(QoS::AtLeastOnce)])));
    assert!(got.contains(&Packet::PubAck(pid(2).into())));
    let delivered = got
        .iter()
        .find_map(|p| match p {
            Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
        .expect("the packed PUBLISH is delivered back");
    assert_eq!(&delivered.payload[..], b"packed");
    let id = delivered.packet_id.expect("QoS 1");
    client.send(Packet::PubAck(id.into())).await;

    // A PUBLISH cut in three frames, the middle one in the payload; and an empty frame.
    let publish = encode(&[Packet::Publish(publish_packet(
        "ws/b",
        "split over frames",
        QoS::AtMostOnce,
        false,
        None,
    ))]);
    client.send_frame(&publish[..3]).await;
    client.send_frame(&[]).await;
    client.send_frame(&publish[3..12]).await;
    client.send_frame(&publish[12..]).await;
    match client.recv().await {
        Packet::Publish(p) => assert_eq!(&p.payload[..], b"split over frames"),
        other => panic!("expected PUBLISH, got {other:?}"),
    }

    // tungstenite answers a ping while the broker reads.
    client
        .send_message(Message::Ping(Bytes::from_static(b"hi")))
        .await;
    assert_eq!(
        client.next_message().await,
        Some(Message::Pong(Bytes::from_static(b"hi")))
    );

    client.send(Packet::PingReq).await;
    assert_eq!(client.recv().await, Packet::PingResp);
    broker.stop().await;
}

#[tokio::test]
async fn subprotocol_negotiation() {
    let (broker, _) = start(WS_YAML, ()).await;
    // No subprotocol offered: accepted (as aMQTT does), none answered.
    let (mut client, protocol) = ws_client(broker.addr, None).await.expect("handshake");
    assert_eq!(protocol, None);
    client
        .send(Packet::Connect(Box::new(connect_packet("no-proto", true))))
        .await;
    assert!(matches!(client.recv().await, Packet::ConnAck(_)));

    // `mqtt` among others: `mqtt` is chosen.
    let (_, protocol) = ws_client(broker.addr, Some("mqttv3.1, mqtt"))
        .await
        .expect("handshake");
    assert_eq!(protocol.as_deref(), Some("mqtt"));

    // Only other subprotocols: refused with 400.
    match ws_client(broker.addr, Some("chat")).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 400),
        Err(e) => panic!("expected an HTTP 400, got {e}"),
        Ok(_) => panic!("a client without `mqtt` among its subprotocols is refused"),
    }
    broker.stop().await;
}

#[tokio::test]
async fn text_frame_closes_the_connection() {
    let (broker, _) = start(WS_YAML, ()).await;
    let mut client = ws_connected(broker.addr, "texter").await;
    client.send_message(Message::text("hello")).await;
    assert_eq!(
        client.try_recv().await,
        None,
        "the broker closes the connection"
    );
    wait_until("the session is gone", || broker.handle.session_count() == 0).await;
    broker.stop().await;
}

#[tokio::test]
async fn secure_websocket() {
    let pki = Pki::new();
    let yaml = format!(
        "listeners:\n  default:\n    type: ws\n    bind: 127.0.0.1:0\n{}plugins: {{}}\n",
        pki.tls_keys()
    );
    let (broker, _) = start(&yaml, ()).await;
    let mut client = wss_connected(broker.addr, &pki, "wss").await;
    client.subscribe("wss/#").await;
    client
        .send(Packet::Publish(publish_packet(
            "wss/x",
            "secure",
            QoS::AtMostOnce,
            false,
            None,
        )))
        .await;
    match client.recv().await {
        Packet::Publish(p) => assert_eq!(&p.payload[..], b"secure"),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    broker.stop().await;
}

#[tokio::test]
async fn max_connections_refuses_the_extra_websocket_client() {
    let yaml = "listeners:\n  default:\n    type: ws\n    bind: 127.0.0.1:0\n    max_connections: 1\nplugins: {}\n";
    let (broker, _) = start(yaml, ()).await;
    let mut first = ws_connected(broker.addr, "first").await;
    assert!(
        ws_client(broker.addr, Some("mqtt")).await.is_err(),
        "the second WebSocket client is refused"
    );
    assert_eq!(broker.handle.stats().connections_refused.get(), 1);
    first.send(Packet::PingReq).await;
    assert_eq!(first.recv().await, Packet::PingResp);
    broker.stop().await;
}

#[tokio::test]
async fn one_broker_with_all_four_listener_kinds() {
    let pki = Pki::new();
    let yaml = format!(
        "listeners:
  default:
    type: tcp
    bind: 127.0.0.1:0
  tls:
    bind: 127.0.0.1:0
    ssl: true
    certfile: {cert}
    keyfile: {key}
  ws:
    type: ws
    bind: 127.0.0.1:0
  wss:
    type: ws
    bind: 127.0.0.1:0
    ssl: true
    certfile: {cert}
    keyfile: {key}
plugins: {{}}
",
        cert = pki.cert_file.display(),
        key = pki.key_file.display()
    );
    let (broker, addrs) = start(&yaml, ()).await;

    let mut over_tls = tls_mqtt_connect(addrs["tls"], pki.client_config(None), "tls")
        .await
        .expect("tls");
    over_tls.subscribe("all/#", QoS::AtMostOnce).await;
    let mut over_ws = ws_connected(addrs["ws"], "ws").await;
    over_ws.subscribe("all/#").await;
    let mut over_wss = wss_connected(addrs["wss"], &pki, "wss").await;
    over_wss.subscribe("all/#").await;

    let mut over_tcp = RawClient::connect(addrs["default"], "tcp").await;
    over_tcp
        .publish("all/news", "to everyone", QoS::AtMostOnce, false)
        .await;
    assert_eq!(&over_tls.recv_publish().await.payload[..], b"to everyone");
    for packet in [over_ws.recv().await, over_wss.recv().await] {
        match packet {
            Packet::Publish(p) => assert_eq!(&p.payload[..], b"to everyone"),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    broker.stop().await;
}
