//! End-to-end tests of what a successful or failed MQTT 5.0 re-authentication (AUTH 0x19, spec
//! 4.12.1) leaves behind, with a one-step token method (the SCRAM exchange itself is tested in
//! `enhanced_auth.rs`): our client closes the connection to a broker whose final data it
//! rejects or whose challenge it cannot answer, and the plugins see the client as its last
//! re-authentication describes it.

use std::sync::{Arc, Mutex, PoisonError};

use amqtt_core::client::{Authenticator, ClientError, ClientOptions, MqttClient};
use amqtt_core::codec::{Packet, ProtocolVersion, QoS};
use amqtt_core::plugin::{Action, AuthAnswer, AuthStep, Plugin, SessionInfo, Verdict, plugin};
use amqtt_tests::{RECV_TIMEOUT, TestBroker, wait_until};
use bytes::Bytes;

const METHOD: &str = "X-TOKEN";

/// The token the broker answers with a proof that is not the client's.
const FORGED: &str = "token-forged";

/// The token the broker answers with a challenge (AUTH 0x18), which the one-step client
/// cannot answer.
const CHALLENGED: &str = "token-challenged";

/// The attribute `token_auth` sets on the client it admits: the token admitted.
const ADMITTED: &str = "token.admitted";

/// `X-TOKEN`, a one-step method: the client's data is a token, which the broker admits at once
/// with `proof:<token>` as its final data (for [`FORGED`], a proof of another token; for
/// [`CHALLENGED`], it asks a second step instead), noting the token in the client's attributes.
/// Writes down what the plugins see of the client at every publish and receive check and every
/// PUBLISH sent to it, and the reason of every DISCONNECT a client sends.
#[derive(Default)]
struct TokenAuth {
    events: Mutex<Vec<String>>,
}

impl TokenAuth {
    fn push(&self, event: String) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }

    fn events(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// `data` as text.
fn text(data: Option<&[u8]>) -> String {
    String::from_utf8_lossy(data.unwrap_or_default()).into_owned()
}

#[plugin(name = "token_auth")]
impl Plugin for TokenAuth {
    async fn authenticate_exchange(
        &self,
        session: &SessionInfo,
        method: &str,
        data: Option<&[u8]>,
        _step: AuthStep<'_>,
    ) -> AuthAnswer {
        if method != METHOD {
            return AuthAnswer::Abstain;
        }
        let token = text(data);
        if token == CHALLENGED {
            return AuthAnswer::Continue(Bytes::from_static(b"second step"));
        }
        let proven = if token == FORGED {
            "token-other"
        } else {
            &token
        };
        let proof = Bytes::from(format!("proof:{proven}"));
        session.attributes.insert(ADMITTED, token);
        AuthAnswer::Success(Some(proof))
    }

    async fn topic_filtering(&self, session: &SessionInfo, topic: &str, action: Action) -> Verdict {
        self.push(format!("{action:?} {topic} {}", seen(session)));
        Verdict::Allow
    }

    fn on_mqtt_packet_sent(&self, packet: &Packet, session: Option<&SessionInfo>) {
        if let (Packet::Publish(publish), Some(session)) = (packet, session) {
            self.push(format!("Sent {} {}", publish.topic, seen(session)));
        }
    }

    fn on_mqtt_packet_received(&self, packet: &Packet, _session: Option<&SessionInfo>) {
        if let Packet::Disconnect(body) = packet {
            let properties = body.properties.as_deref();
            let why = properties.and_then(|p| p.reason_string.as_deref());
            self.push(format!("DISCONNECT {:?} {why:?}", body.reason));
        }
    }
}

/// What a plugin sees of `session`'s authentication: the data of its last exchange, and the
/// token `token_auth` admitted.
fn seen(session: &SessionInfo) -> String {
    let properties = session.properties.as_deref();
    let data = text(properties.and_then(|p| p.authentication_data.as_deref()));
    let admitted = session.attributes.get::<String>(ADMITTED);
    let admitted = admitted.as_deref().map_or("-", |token| token.as_str());
    format!("data={data} admitted={admitted}")
}

/// The client side of `X-TOKEN`: sends the token it holds now (the test changes it between
/// re-authentications), and accepts only `proof:<the token it sent>`.
struct TokenClient(Arc<Mutex<String>>);

impl Authenticator for TokenClient {
    fn method(&self) -> &str {
        METHOD
    }

    fn start(&self) -> Option<Bytes> {
        let token = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Some(Bytes::from(token.clone()))
    }

    fn respond(&self, _: &[Bytes], _: Option<&[u8]>) -> Result<Option<Bytes>, String> {
        Err("X-TOKEN has one step".to_owned())
    }

    fn finish(&self, history: &[Bytes], data: Option<&[u8]>) -> Result<(), String> {
        let sent = text(history.first().map(|token| &token[..]));
        let proof = text(data);
        if proof == format!("proof:{sent}") {
            Ok(())
        } else {
            Err(format!("`{proof}` does not prove `{sent}`"))
        }
    }
}

/// A broker with `token_auth`, and our client logged in to it with `token`; returns the token
/// the client's authenticator sends, for the test to change.
async fn logged_in(token: &str) -> (TestBroker<TokenAuth>, MqttClient, Arc<Mutex<String>>) {
    let broker = TestBroker::<TokenAuth>::start_with_plugins("plugins:\n  token_auth:\n").await;
    let held = Arc::new(Mutex::new(token.to_owned()));
    let options = ClientOptions::new()
        .protocol(ProtocolVersion::V5)
        .client_id("token-client")
        .auto_reconnect(false)
        .ack_timeout(RECV_TIMEOUT)
        .authenticator(TokenClient(held.clone()));
    let url = format!("mqtt://{}", broker.addr);
    let client = MqttClient::connect(&url, options)
        .await
        .expect("token login");
    (broker, client, held)
}

/// Waits until `token_auth` has written down `event`.
async fn wait_for(broker: &TestBroker<TokenAuth>, event: &str) {
    let written = || broker.handle.plugins().events().iter().any(|e| e == event);
    wait_until(event, written).await;
}

/// Re-authenticates a client logged in with `token-1` with `token`, which must fail our
/// client's authenticator with an error that says `why`; then checks that the client
/// disconnected the broker and closed the connection for good.
async fn reauthentication_fails_and_disconnects(token: &str, why: &str) {
    let (broker, client, held) = logged_in("token-1").await;
    *held.lock().unwrap_or_else(PoisonError::into_inner) = token.to_owned();
    match client.reauthenticate().await {
        Err(ClientError::ServerAuthenticationFailed(error)) => {
            assert!(error.contains(why), "{error}");
        }
        other => panic!("expected ServerAuthenticationFailed, got {other:?}"),
    }
    // 0x87 Not authorized is a server's DISCONNECT code only: the client says 0x80.
    let disconnect = "DISCONNECT UnspecifiedError Some(\"server authentication failed\")";
    wait_for(&broker, disconnect).await;
    // Closed for good: nothing more goes out, and no reconnect brings the session back.
    let publish = client.publish("t/after", "x", QoS::AtLeastOnce, false);
    assert!(matches!(publish.await, Err(ClientError::ConnectionClosed)));
    wait_until("the session ends", || broker.handle.session_count() == 0).await;
    broker.stop().await;
}

#[tokio::test]
async fn a_broker_whose_final_reauthentication_data_fails_the_check_is_disconnected() {
    reauthentication_fails_and_disconnects(FORGED, "proof:token-other").await;
}

#[tokio::test]
async fn a_reauthentication_challenge_the_authenticator_cannot_answer_disconnects() {
    // The broker's AUTH 0x18 is step 2 of an exchange the one-step client cannot go on with.
    reauthentication_fails_and_disconnects(CHALLENGED, "X-TOKEN has one step").await;
}

#[tokio::test]
async fn plugins_see_the_client_as_its_last_reauthentication_describes_it() {
    let (broker, client, token) = logged_in("token-1").await;
    client
        .subscribe(&[("t/#", QoS::AtLeastOnce)])
        .await
        .expect("subscribe");
    client
        .publish("t/1", "x", QoS::AtLeastOnce, false)
        .await
        .expect("publish before");
    *token.lock().unwrap_or_else(PoisonError::into_inner) = "token-2".to_owned();
    client.reauthenticate().await.expect("re-authentication");
    client
        .publish("t/2", "x", QoS::AtLeastOnce, false)
        .await
        .expect("publish after");
    wait_for(&broker, "Sent t/2 data=token-2 admitted=token-2").await;
    let events = broker.handle.plugins().events();
    let of = |kind: &[&str]| -> Vec<String> {
        let wanted = |e: &&String| kind.iter().any(|k| e.starts_with(k));
        events.iter().filter(wanted).cloned().collect()
    };
    // The publisher's checks (its connection) and the receiver's (its session) alike.
    assert_eq!(
        of(&["Publish", "Receive"]),
        [
            "Publish t/1 data=token-1 admitted=token-1",
            "Receive t/1 data=token-1 admitted=token-1",
            "Publish t/2 data=token-2 admitted=token-2",
            "Receive t/2 data=token-2 admitted=token-2",
        ]
    );
    // And the writer's packet-sent hook.
    assert_eq!(
        of(&["Sent"]),
        [
            "Sent t/1 data=token-1 admitted=token-1",
            "Sent t/2 data=token-2 admitted=token-2",
        ]
    );
    client.disconnect().await.expect("disconnect");
    broker.stop().await;
}
