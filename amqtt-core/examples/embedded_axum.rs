//! Embeds the broker in an axum web application: the route `/mqtt` serves MQTT over WebSocket
//! (subprotocol `mqtt`), next to the application's own routes, while the broker also listens on
//! TCP as configured.
//!
//! The route answers the WebSocket upgrade itself and takes the upgraded connection from hyper,
//! so the socket is handed over as it is: `tokio_tungstenite::WebSocketStream` on it,
//! `amqtt_core::transport::WsStream` to make it a byte stream, and
//! `BrokerHandle::serve_stream` to serve it as one client connection.
//!
//! ```text
//! cargo run -p amqtt-core --example embedded_axum
//! # MQTT over TCP on 127.0.0.1:1883, over WebSocket on ws://127.0.0.1:8080/mqtt
//! ```
//!
//! Its test (`cargo test -p amqtt-core --example embedded_axum`) connects a WebSocket MQTT
//! client to the route.

use std::net::SocketAddr;

use amqtt_core::broker::{Broker, BrokerHandle};
use amqtt_core::config::BrokerConfig;
use amqtt_core::transport::{WsStream, select_subprotocol, websocket_config};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The broker's configuration: TCP on 1883 besides the web route; every client is admitted
/// (`Broker<()>` has no authentication plugin).
const CONFIG: &str = "listeners:\n  default:\n    bind: 127.0.0.1:1883\nplugins: {}\n";
/// Where the web application listens.
const HTTP_ADDR: &str = "127.0.0.1:8080";

/// The web application: a page at `/` and MQTT over WebSocket at `/mqtt`.
fn app(broker: BrokerHandle) -> Router {
    Router::new()
        .route("/", get(|| async { "MQTT over WebSocket at /mqtt\n" }))
        .route("/mqtt", get(mqtt_over_websocket))
        .with_state(broker)
}

/// Whether `headers` ask for a WebSocket (version 13) upgrade.
fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let has = |name, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    has(UPGRADE, "websocket")
        && has(CONNECTION, "upgrade")
        && headers
            .get(SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13")
}

/// Answers the upgrade (choosing the `mqtt` subprotocol) and, once hyper hands over the
/// connection, serves it to the broker.
async fn mqtt_over_websocket(
    State(broker): State<BrokerHandle>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let key = match request.headers().get(SEC_WEBSOCKET_KEY) {
        Some(key) if is_websocket_upgrade(request.headers()) => key.clone(),
        _ => return (StatusCode::BAD_REQUEST, "expected a WebSocket upgrade\n").into_response(),
    };
    let protocol = match select_subprotocol(request.headers()) {
        Ok(protocol) => protocol,
        Err(refused) => return (StatusCode::BAD_REQUEST, refused.to_string()).into_response(),
    };
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                // The broker's own WebSocket settings (4 KiB read buffer, frame size limits).
                let config = websocket_config(1024 * 1024);
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                broker.serve_stream(WsStream::new(ws), Some(peer)).await;
            }
            Err(e) => eprintln!("WebSocket upgrade from {peer} failed: {e}"),
        }
    });
    let mut response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, "websocket")
        .header(SEC_WEBSOCKET_ACCEPT, derive_accept_key(key.as_bytes()));
    if let Some(protocol) = protocol {
        response = response.header(SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    response
        .body(Body::empty())
        .unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = Broker::<()>::bind(BrokerConfig::from_yaml(CONFIG)?).await?;
    let handle = broker.handle();
    let http = tokio::net::TcpListener::bind(HTTP_ADDR).await?;
    println!("MQTT over WebSocket on ws://{HTTP_ADDR}/mqtt, over TCP on 127.0.0.1:1883");
    let broker_task = tokio::spawn(broker.run(async {
        let _ = tokio::signal::ctrl_c().await;
    }));
    let stopping = handle.clone();
    axum::serve(
        http,
        app(handle).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = tokio::signal::ctrl_c().await;
        stopping.shutdown();
    })
    .await?;
    broker_task.await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The example's route, served on 127.0.0.1:0 and driven by a WebSocket MQTT client.

    use std::time::Duration;

    use amqtt_core::codec::{
        self, ByteString, Packet, Publish, QoS, ReasonCode, SubAckCode, Subscribe,
    };
    use bytes::{Bytes, BytesMut};
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    use super::*;

    type Client = WebSocketStream<tokio::net::TcpStream>;

    fn frame(packet: Packet) -> Message {
        let mut out = BytesMut::new();
        packet.encode(&mut out);
        Message::Binary(out.freeze())
    }

    async fn recv(ws: &mut Client, buf: &mut BytesMut) -> Packet {
        loop {
            if let Some(packet) = codec::decode(buf, 1 << 20).expect("well-formed packet") {
                return packet;
            }
            let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("a frame within 5 s")
                .expect("connection open")
                .expect("no WebSocket error");
            if let Message::Binary(payload) = message {
                buf.extend_from_slice(&payload);
            }
        }
    }

    #[tokio::test]
    async fn mqtt_over_the_axum_route() {
        let config =
            BrokerConfig::from_yaml("listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins: {}\n")
                .expect("valid config");
        let broker = Broker::<()>::bind(config).await.expect("broker binds");
        let handle = broker.handle();
        tokio::spawn(broker.run(std::future::pending()));
        let http = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = http.local_addr().expect("local addr");
        let service = app(handle.clone()).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(http, service).await });

        let mut request = format!("ws://{addr}/mqtt")
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("mqtt"));
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut ws, response) = tokio_tungstenite::client_async(request, tcp)
            .await
            .expect("WebSocket handshake");
        assert_eq!(
            response.headers().get(SEC_WEBSOCKET_PROTOCOL),
            Some(&HeaderValue::from_static("mqtt"))
        );

        let mut buf = BytesMut::new();
        let connect = codec::Connect {
            clean_session: true,
            keep_alive: 0,
            client_id: ByteString::from("axum-client"),
            will: None,
            username: None,
            password: None,
            ..Default::default()
        };
        ws.send(frame(Packet::Connect(Box::new(connect))))
            .await
            .expect("send");
        match recv(&mut ws, &mut buf).await {
            Packet::ConnAck(ack) => assert_eq!(ack.code, ReasonCode::Success),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        let id = std::num::NonZeroU16::MIN;
        ws.send(frame(Packet::Subscribe(Subscribe {
            packet_id: id,
            filters: vec![(ByteString::from("web/#"), QoS::AtMostOnce.into())],
            properties: None,
        })))
        .await
        .expect("send");
        match recv(&mut ws, &mut buf).await {
            Packet::SubAck(ack) => {
                assert_eq!(ack.codes, vec![SubAckCode::Success(QoS::AtMostOnce)]);
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
        ws.send(frame(Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: ByteString::from("web/hello"),
            packet_id: None,
            payload: Bytes::from_static(b"from the browser"),
            properties: None,
        })))
        .await
        .expect("send");
        match recv(&mut ws, &mut buf).await {
            Packet::Publish(p) => {
                assert_eq!(&*p.topic, "web/hello");
                assert_eq!(&p.payload[..], b"from the browser");
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
        assert_eq!(handle.session_count(), 1);
        handle.shutdown();
    }
}
