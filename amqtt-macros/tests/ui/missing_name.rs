use amqtt_core::plugin::{Plugin, plugin};

#[derive(Default)]
struct Nameless;

#[plugin]
impl Plugin for Nameless {}

#[derive(Default)]
struct AliasOnly;

#[plugin(alias = "my.module.AliasOnly")]
impl Plugin for AliasOnly {}

fn main() {
    let _ = amqtt_core::plugin::known_plugin_names::<(Nameless, AliasOnly)>();
}
