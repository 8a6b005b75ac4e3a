use amqtt_core::plugin::{Plugin, SessionInfo, Verdict, known_plugin_names, plugin};

#[derive(Default)]
struct Typo;

#[plugin(name = "typo")]
impl Plugin for Typo {
    async fn on_conect(&self, _client_id: &str, _session: &SessionInfo) {}

    async fn authenticate(&self, _session: &SessionInfo) -> Verdict {
        Verdict::Allow
    }

    fn helper(&self) -> u32 {
        1
    }
}

fn main() {
    // The plugin still has its impls: no follow-on error here.
    let _ = known_plugin_names::<Typo>();
}
