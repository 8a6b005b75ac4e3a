//! `amqtt`: the MQTT broker. Runs aMQTT's default configuration, or the YAML file given with `-c`.
//! Built from every packaged and contributed plugin, the SQLite/PostgreSQL session store and the
//! NATS JetStream cluster, each on only when the configuration lists it.

use std::process::ExitCode;

use amqtt_bin::BrokerMain;
use amqtt_cluster::NatsCluster;
use amqtt_contrib::ContribPlugins;
use amqtt_plugins::PackagedPlugins;
use amqtt_store::SqlStore;

fn main() -> ExitCode {
    BrokerMain::<(PackagedPlugins, ContribPlugins), SqlStore, Option<NatsCluster>>::new("amqtt")
        .run()
}
