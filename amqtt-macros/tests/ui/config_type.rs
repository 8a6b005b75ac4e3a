use amqtt_core::plugin::{BrokerContext, Plugin, PluginError, plugin};

// Not `Deserialize`.
#[derive(Default, serde::Serialize)]
struct NotDeserialize {
    max: u32,
}

struct A;

#[plugin(name = "a", config = NotDeserialize)]
impl Plugin for A {
    fn build(config: NotDeserialize, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        let _ = config.max;
        Ok(A)
    }
}

// Not `Default`.
#[derive(serde::Deserialize, serde::Serialize)]
struct NoDefault {
    max: u32,
}

struct B;

#[plugin(name = "b", config = NoDefault)]
impl Plugin for B {
    fn build(config: NoDefault, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        let _ = config.max;
        Ok(B)
    }
}

// Not `Serialize` (`amqtt --check-config` shows every plugin's configuration).
#[derive(Default, serde::Deserialize)]
struct NotSerialize {
    max: u32,
}

struct D;

#[plugin(name = "d", config = NotSerialize)]
impl Plugin for D {
    fn build(config: NotSerialize, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        let _ = config.max;
        Ok(D)
    }
}

// No config and no `build`: built with `Default`, which it lacks.
struct C;

#[plugin(name = "c")]
impl Plugin for C {}

fn main() {}
