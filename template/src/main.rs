//! `my-broker`: the MQTT broker over [`MyPlugins`], your plugins and amqtt's packaged ones.
//! Runs the embedded `my-broker.yaml`, or the YAML file given with `-c`, until SIGINT or SIGTERM;
//! every flag of the stock `amqtt` (`-d`, `--workers`, `--check-config`, `--log-format`) is here.

use std::process::ExitCode;

use my_broker::{DEFAULT_CONFIG, MyPlugins};

fn main() -> ExitCode {
    amqtt_bin::BrokerMain::<MyPlugins>::new("my-broker")
        .version(env!("CARGO_PKG_VERSION"))
        .default_config(DEFAULT_CONFIG)
        .run()
}
