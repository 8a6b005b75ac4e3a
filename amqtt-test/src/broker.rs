//! [`TestBroker`]: a broker over any plugin set and store, serving in a task of the test's
//! runtime on a free port of 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use amqtt_core::broker::{Broker, BrokerHandle};
use amqtt_core::client::{ClientError, ClientOptions, MqttClient};
use amqtt_core::codec::ReasonCode;
use amqtt_core::config::BrokerConfig;
use amqtt_core::plugin::{BuildPlugins, Plugin};
use amqtt_core::store::Store;
use tokio::task::JoinHandle;

use crate::{RECV_TIMEOUT, RawClient, connect_packet, in_time};

/// A broker serving on an ephemeral port of 127.0.0.1 in a task of the test's runtime, over the
/// plugin set `P` (any tuple, as `Broker<P, S>` takes it) and any store. Shut down when dropped;
/// [`TestBroker::stop`] also checks its invariants and waits until it has stopped.
pub struct TestBroker<P: Plugin = ()> {
    /// The address of its `default` listener.
    pub addr: SocketAddr,
    /// Counters, the plugin set, and shutdown.
    pub handle: BrokerHandle<P>,
    task: Option<JoinHandle<()>>,
}

impl TestBroker<()> {
    /// Starts a broker without plugins (so without authentication: it admits every client),
    /// the default listener on 127.0.0.1:0, and `extra` YAML broker keys (e.g.
    /// `"session_expiry_interval: 1\n"`).
    pub async fn start(extra: &str) -> TestBroker<()> {
        TestBroker::start_with_plugins(&format!("plugins: {{}}\n{extra}")).await
    }
}

impl<P: BuildPlugins> TestBroker<P> {
    /// Starts a broker over the plugin set `P`, the default listener on 127.0.0.1:0, and `extra`
    /// YAML broker keys. Give them a `plugins:` section (each plugin is built from its section
    /// there, as `amqtt` builds it): without one, aMQTT's default section applies, which names
    /// plugins `P` may not have. Panics with the broker's error if it cannot start.
    pub async fn start_with_plugins(extra: &str) -> TestBroker<P> {
        TestBroker::start_with_store::<()>(extra).await
    }

    /// [`TestBroker::start_with_plugins`] with the persistent store `S`, which is on when the
    /// `plugins:` section in `extra` has its key (e.g. `persistence:` for amqtt-store's
    /// `SqlStore`).
    pub async fn start_with_store<S: Store>(extra: &str) -> TestBroker<P> {
        let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:0\n{extra}");
        TestBroker::bind::<S>(&yaml).await
    }

    /// Starts a broker over `P` from a whole YAML configuration (a file a broker ships, say),
    /// which needs a TCP listener named `default`; bind it to `127.0.0.1:0` so each test gets
    /// a free port. Panics with the
    /// configuration's or the broker's error if it cannot start. With a store:
    /// [`TestBroker::serve_with_store`] a `Broker<P, S>` bound from the configuration.
    pub async fn start_config(yaml: &str) -> TestBroker<P> {
        TestBroker::bind::<()>(yaml).await
    }

    /// Binds a `Broker<P, S>` from the configuration `yaml` and serves it.
    async fn bind<S: Store>(yaml: &str) -> TestBroker<P> {
        let config = match BrokerConfig::from_yaml(yaml) {
            Ok(config) => config,
            Err(e) => panic!("the test broker's configuration is invalid: {e}"),
        };
        match Broker::<P, S>::bind(config).await {
            Ok(broker) => TestBroker::serve_with_store(broker),
            Err(e) => panic!("the test broker did not start: {e}"),
        }
    }
}

impl<P: Plugin> TestBroker<P> {
    /// Runs a bound broker without a store in the background; it must have a TCP listener
    /// named `default`.
    pub fn serve(broker: Broker<P>) -> TestBroker<P> {
        TestBroker::serve_with_store(broker)
    }

    /// [`TestBroker::serve`] for a broker over the store `S`.
    pub fn serve_with_store<S: Store>(broker: Broker<P, S>) -> TestBroker<P> {
        let addr = broker.local_addr("default").expect("default listener");
        let handle = broker.handle();
        let task = tokio::spawn(broker.run(std::future::pending()));
        TestBroker {
            addr,
            handle,
            task: Some(task),
        }
    }

    /// The plugin set, as [`BrokerHandle::plugins`]: `&broker.plugins().0` is the first
    /// plugin of a tuple.
    pub fn plugins(&self) -> &P {
        self.handle.plugins()
    }

    /// The URL of the `default` listener for [`MqttClient::connect`]: `mqtt://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }

    /// A [`RawClient`] connected as `client_id` with a clean session; asserts it was accepted.
    pub async fn client(&self, client_id: &str) -> RawClient {
        RawClient::connect(self.addr, client_id).await
    }

    /// Connects `client_id` with a clean session, asserts the broker refuses it (and closes the
    /// connection), and returns the refusing CONNACK code.
    pub async fn refused(&self, client_id: &str) -> ReasonCode {
        RawClient::connect_refused(self.addr, connect_packet(client_id, true)).await
    }

    /// amqtt-core's [`MqttClient`] connected as `client_id` (MQTT 3.1.1, clean session, no
    /// auto-reconnect, so a lost connection fails the test fast); panics if it is not accepted
    /// within [`RECV_TIMEOUT`].
    pub async fn mqtt_client(&self, client_id: &str) -> MqttClient {
        let options = ClientOptions::new()
            .client_id(client_id)
            .auto_reconnect(false);
        match self.mqtt_client_with(options).await {
            Ok(client) => client,
            Err(e) => panic!("{client_id} did not connect: {e}"),
        }
    }

    /// amqtt-core's [`MqttClient`] connected with `options` (5.0, credentials, a will, client
    /// plugins...): the client, or why it could not connect (a refusal is
    /// [`ClientError::Refused`]). Fails the test if the attempt takes over [`RECV_TIMEOUT`].
    pub async fn mqtt_client_with<Q: Plugin>(
        &self,
        options: ClientOptions<Q>,
    ) -> Result<MqttClient, ClientError> {
        in_time(MqttClient::connect(&self.url(), options)).await
    }

    /// Asserts the broker's internal invariants ([`BrokerHandle::check_consistency`]): every
    /// subscription belongs to a live session. Retries for up to [`RECV_TIMEOUT`], since a
    /// session that is ending leaves the index a slice at a time.
    pub async fn assert_consistent(&self) {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        loop {
            match self.handle.check_consistency() {
                Ok(()) => return,
                Err(violation) if tokio::time::Instant::now() >= deadline => {
                    panic!("broker state is inconsistent: {violation}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Checks the broker's invariants ([`TestBroker::assert_consistent`]), then stops it and
    /// waits for it to finish (its shutdown hooks have run when this returns).
    pub async fn stop(mut self) {
        self.assert_consistent().await;
        self.handle.shutdown();
        if let Some(task) = self.task.take() {
            task.await.expect("broker task ends cleanly");
        }
    }
}

impl<P: Plugin> Drop for TestBroker<P> {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}
