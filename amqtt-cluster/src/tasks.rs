//! The cluster's two kinds of long-running loop, each until the broker stops: over a key-value
//! bucket's entries (every key's latest value first, then each change; watched again after an
//! error) and over a core NATS subscription's messages.

use std::future::Future;
use std::time::Duration;

use amqtt_core::cluster::ClusterLink;
use async_nats::jetstream::kv::{Entry, Store};
use futures_util::StreamExt;

/// How long a failed watch waits before it watches again.
const WATCH_AGAIN: Duration = Duration::from_millis(500);

/// `work`'s output, or `None` once the broker begins to stop (`work` is then dropped).
pub(crate) async fn or_stop<T>(link: &ClusterLink, work: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        output = work => Some(output),
        () = link.stopping() => None,
    }
}

/// Calls `apply` with every entry of `bucket` (named `what` in the log), from each key's latest
/// value on, until the broker stops.
pub(crate) async fn watch_bucket(
    bucket: Store,
    what: &'static str,
    link: ClusterLink,
    mut apply: impl FnMut(Entry),
) {
    loop {
        match bucket.watch_with_history(">").await {
            Ok(mut entries) => loop {
                let Some(entry) = or_stop(&link, entries.next()).await else {
                    return;
                };
                match entry {
                    Some(Ok(entry)) => apply(entry),
                    Some(Err(e)) => {
                        tracing::warn!(bucket = what, error = %e, "cluster: watch failed");
                        break;
                    }
                    None => break,
                }
            },
            Err(e) => tracing::warn!(bucket = what, error = %e, "cluster: cannot watch"),
        }
        tokio::time::sleep(WATCH_AGAIN).await;
    }
}

/// Subscribes to `subject` and, in a task of its own, awaits `handle` for each message until the
/// broker stops.
pub(crate) async fn serve_subject<F: Future<Output = ()> + Send>(
    client: &async_nats::Client,
    subject: String,
    link: ClusterLink,
    mut handle: impl FnMut(async_nats::Message) -> F + Send + 'static,
) -> Result<(), async_nats::SubscribeError> {
    let mut messages = client.subscribe(subject).await?;
    tokio::spawn(async move {
        loop {
            let Some(Some(message)) = or_stop(&link, messages.next()).await else {
                return;
            };
            handle(message).await;
        }
    });
    Ok(())
}
