//! Interest across the cluster: each node writes the filters its sessions subscribe to into the
//! interest bucket (key `<node>.<filter key>`, value the filter), and keeps every other node's
//! in a trie, so that a publish is sent only to the nodes that have a matching subscription.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use amqtt_core::cluster::{ClusterLink, InterestChange};
use amqtt_core::topic::{TopicTrie, shared_filter};
use async_nats::jetstream::kv::{Operation, Store};
use futures_util::StreamExt;
use smallvec::SmallVec;

use crate::names;
use crate::tasks::{or_stop, watch_bucket};

/// The nodes a message goes to (most fan-outs reach few nodes).
pub(crate) type Nodes = SmallVec<[Arc<str>; 4]>;

/// The members of shared-subscription groups on other nodes that match a topic: each group
/// (`$share/<group>/<filter>`) with the nodes that have members of it.
pub(crate) type GroupNodes = SmallVec<[(Arc<str>, Nodes); 2]>;

/// The other nodes' filters.
#[derive(Default)]
pub(crate) struct RemoteInterest {
    table: RwLock<Table>,
}

#[derive(Default)]
struct Table {
    /// Ordinary filters: filter -> (bucket key, node).
    trie: TopicTrie<Arc<str>, Arc<str>>,
    /// Shared subscriptions under their plain filter: (bucket key, (node, whole filter)).
    groups: TopicTrie<Arc<str>, (Arc<str>, Arc<str>)>,
    /// Bucket key -> the filter it is in a trie under, and whether it is a group's.
    filters: HashMap<Arc<str>, (Box<str>, bool)>,
}

impl RemoteInterest {
    /// The other nodes with an ordinary subscription matching `topic`, each once, and the
    /// groups with members on other nodes whose filters match it, each with those nodes: both
    /// under one read lock.
    pub(crate) fn matching(&self, topic: &str) -> (Nodes, GroupNodes) {
        let (mut nodes, mut groups) = (Nodes::new(), GroupNodes::new());
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        table.trie.for_each_match(topic, |_, node| {
            if !nodes.contains(node) {
                nodes.push(node.clone());
            }
        });
        if !table.groups.is_empty() {
            table.groups.for_each_match(topic, |_, (node, share)| {
                match groups.iter_mut().find(|(s, _)| s == share) {
                    Some((_, nodes)) if !nodes.contains(node) => nodes.push(node.clone()),
                    Some(_) => {}
                    None => groups.push((share.clone(), Nodes::from_elem(node.clone(), 1))),
                }
            });
        }
        (nodes, groups)
    }

    #[cfg(test)]
    fn nodes(&self, topic: &str) -> Nodes {
        self.matching(topic).0
    }

    #[cfg(test)]
    fn groups(&self, topic: &str) -> GroupNodes {
        self.matching(topic).1
    }

    /// Enters `node`'s subscription to `filter` under the bucket key `key`, as a watch does.
    #[cfg(test)]
    pub(crate) fn test_put(&self, key: &str, node: &str, filter: &str) {
        self.put(key, node, filter);
    }

    fn put(&self, key: &str, node: &str, filter: &str) {
        let key: Arc<str> = key.into();
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        match shared_filter(filter) {
            None => {
                table.trie.insert(filter, key.clone(), node.into());
                table.filters.insert(key, (filter.into(), false));
            }
            Some(shared) => {
                let member = (Arc::from(node), Arc::from(filter));
                table.groups.insert(shared.filter, key.clone(), member);
                table.filters.insert(key, (shared.filter.into(), true));
            }
        }
    }

    fn delete(&self, key: &str) {
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        if let Some((filter, group)) = table.filters.remove(key) {
            if group {
                table.groups.remove(&filter, &Arc::from(key));
            } else {
                table.trie.remove(&filter, &Arc::from(key));
            }
        }
    }
}

/// Keeps `remote` up to date from the bucket, leaving out `node`'s own keys.
pub(crate) async fn watch_remote(
    bucket: Store,
    node: String,
    remote: Arc<RemoteInterest>,
    link: ClusterLink,
) {
    let own = format!("{node}.");
    watch_bucket(bucket, "interest", link, |entry| {
        if entry.key.starts_with(&own) {
            return;
        }
        let Some((other, _)) = entry.key.split_once('.') else {
            return;
        };
        match entry.operation {
            Operation::Put => match std::str::from_utf8(&entry.value) {
                Ok(filter) => remote.put(&entry.key, other, filter),
                Err(_) => tracing::warn!(key = %entry.key, "cluster: interest entry is not UTF-8"),
            },
            Operation::Delete | Operation::Purge => remote.delete(&entry.key),
        }
    })
    .await;
}

/// Writes this node's interest into the bucket as it changes: all of it at first (and after a
/// failed write, since a change may be lost then), its changes afterwards.
pub(crate) async fn publish_own(bucket: Store, node: String, link: ClusterLink) {
    let interest = link.interest().clone();
    let mut synced = false;
    loop {
        let written = if synced {
            let mut written = Ok(());
            for change in interest.take_changes() {
                written = match change {
                    InterestChange::Added(filter) => put(&bucket, &node, &filter).await,
                    InterestChange::Removed(filter) => bucket
                        .delete(own_key(&node, &filter))
                        .await
                        .map_err(|e| e.to_string()),
                };
                if written.is_err() {
                    break;
                }
            }
            written
        } else {
            sync(&bucket, &node, interest.snapshot()).await
        };
        match written {
            Ok(()) => synced = true,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: cannot write this node's interest; retrying");
                synced = false;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        }
        if or_stop(&link, interest.changed()).await.is_none() {
            return;
        }
    }
}

/// Makes the bucket hold exactly `filters` for `node`: its other keys (left by an earlier run)
/// are deleted.
async fn sync(bucket: &Store, node: &str, filters: Vec<Box<str>>) -> Result<(), String> {
    let wanted: HashMap<String, Box<str>> = filters
        .into_iter()
        .map(|filter| (own_key(node, &filter), filter))
        .collect();
    let prefix = format!("{node}.");
    let mut keys = bucket.keys().await.map_err(|e| e.to_string())?;
    let mut stale = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| e.to_string())?;
        if key.starts_with(&prefix) && !wanted.contains_key(&key) {
            stale.push(key);
        }
    }
    for key in stale {
        bucket.delete(key).await.map_err(|e| e.to_string())?;
    }
    for filter in wanted.values() {
        put(bucket, node, filter).await?;
    }
    Ok(())
}

async fn put(bucket: &Store, node: &str, filter: &str) -> Result<(), String> {
    bucket
        .put(own_key(node, filter), filter.as_bytes().to_vec().into())
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Adds `filters` to `node`'s keys (a session it continues, ahead of its own write of them).
pub(crate) async fn add(bucket: &Store, node: &str, filters: &[Box<str>]) -> Result<(), String> {
    for filter in filters {
        put(bucket, node, filter).await?;
    }
    Ok(())
}

/// Removes every key of `node` (a node that is gone, whose sessions continue elsewhere).
pub(crate) async fn withdraw(bucket: &Store, node: &str) -> Result<(), String> {
    sync(bucket, node, Vec::new()).await
}

fn own_key(node: &str, filter: &str) -> String {
    format!("{node}.{}", names::key(filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_with_matching_filters_each_once() {
        let remote = RemoteInterest::default();
        remote.put("b.1", "b", "a/#");
        remote.put("b.2", "b", "a/+");
        remote.put("c.1", "c", "$share/g/a/x");
        remote.put("d.1", "d", "other");
        remote.put("d.2", "d", "$share/g/a/+");
        let nodes: Vec<String> = remote.nodes("a/x").iter().map(|n| n.to_string()).collect();
        assert_eq!(nodes, ["b"]);
        let groups = remote.groups("a/x");
        assert_eq!(groups.len(), 2, "two groups: $share/g/a/x and $share/g/a/+");
        let on_c = groups.iter().find(|(share, _)| &**share == "$share/g/a/x");
        assert_eq!(
            on_c.map(|(_, nodes)| nodes.to_vec()),
            Some(vec![Arc::from("c")])
        );
        assert_eq!(remote.groups("a/y").len(), 1, "d's $share/g/a/+ only");
        assert_eq!(remote.nodes("a").len(), 1, "a/# matches a");
        assert!(remote.nodes("b").is_empty());
        remote.delete("b.1");
        remote.delete("b.2");
        remote.delete("c.1");
        assert!(remote.nodes("a/y").is_empty());
        assert!(
            remote
                .groups("a/x")
                .iter()
                .all(|(share, _)| &**share != "$share/g/a/x")
        );
        assert_eq!(remote.nodes("other").len(), 1);
    }
}
