use amqtt_core::plugin::{Plugin, plugin};

#[derive(Default, serde::Deserialize, serde::Serialize)]
struct Config;

#[derive(Default)]
struct A;

#[plugin(name = "a", nmae = "b", alias = "x", alias = "x")]
impl Plugin for A {}

#[derive(Default)]
struct B;

#[plugin(name = "b", name = "c")]
impl Plugin for B {}

struct C;

#[plugin(name = "c", config = Config, config = Config)]
impl Plugin for C {
    fn build(
        _config: Config,
        _ctx: &amqtt_core::plugin::BrokerContext,
    ) -> Result<Self, amqtt_core::plugin::PluginError> {
        Ok(C)
    }
}

#[derive(Default)]
struct D;

#[plugin(name = d, alias = "")]
impl Plugin for D {}

#[derive(Default)]
struct E;

#[derive(Default)]
struct F;

#[plugin(name = "", config = 1)]
impl Plugin for F {}

#[plugin(name = "e" alias = "e")]
impl Plugin for E {}

fn main() {}
