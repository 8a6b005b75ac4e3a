use amqtt_core::plugin::{Plugin, plugin};

#[plugin(name = "a")]
struct OnAStruct;

struct Inherent;

#[plugin(name = "b")]
impl Inherent {}

struct OtherTrait;

#[plugin(name = "c")]
impl Default for OtherTrait {
    fn default() -> Self {
        OtherTrait
    }
}

struct Generic<T>(T);

#[plugin(name = "d")]
impl<T: Send + Sync + 'static> Plugin for Generic<T> {}

fn main() {
    let _ = (OnAStruct, Inherent, OtherTrait, Generic(1));
}
