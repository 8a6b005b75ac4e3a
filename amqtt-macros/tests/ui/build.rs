use amqtt_core::plugin::{BrokerContext, Plugin, PluginError, plugin};

#[derive(Default, serde::Deserialize, serde::Serialize)]
struct LimitConfig {
    max: u32,
}

// `config` without a `build` to use it.
struct Limit {
    max: u32,
}

#[plugin(name = "limit", config = LimitConfig)]
impl Plugin for Limit {}

// `build` with a receiver.
struct Method;

#[plugin(name = "method", config = LimitConfig)]
impl Plugin for Method {
    fn build(&self, _config: LimitConfig) -> Result<Self, PluginError> {
        Ok(Method)
    }
}

// `build` taking a config the attribute does not name.
struct Unnamed {
    max: u32,
}

#[plugin(name = "unnamed")]
impl Plugin for Unnamed {
    fn build(config: LimitConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(Unnamed { max: config.max })
    }
}

// Two `build`s.
#[derive(Default)]
struct Twice;

#[plugin(name = "twice")]
impl Plugin for Twice {
    fn build(_config: (), _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(Twice)
    }

    fn build(_config: (), _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(Twice)
    }
}

fn main() {
    let _ = (Limit { max: 1 }.max, Unnamed { max: 1 }.max);
}
