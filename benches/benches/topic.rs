//! Benchmarks of the subscription trie: matching a PUBLISH's topic against 100,000 subscriptions, and the
//! cost of a subscribe followed by an unsubscribe (session churn).

use std::hint::black_box;

use amqtt_core::topic::TopicTrie;
use criterion::{Criterion, criterion_main};

/// Sites in the synthetic deployment; every site has its own subtree of filters.
const SITES: u32 = 1_000;
/// Devices per site with an exact subscription each: `site/N/device/M/temp`.
const EXACT_DEVICES_PER_SITE: u32 = 80;
/// Devices per site with a single-level wildcard subscription each: `site/N/+/M/temp`.
const WILDCARD_DEVICES_PER_SITE: u32 = 19;

/// 100,000 subscriptions: per site 80 exact filters, 19 filters with `+`, and one with `#` (`site/N/#` on
/// the first half of the sites, `site/N/alarm/#` on the second half, so that their device topics match
/// no `#`).
fn subscriptions() -> TopicTrie<u32, u8> {
    let mut trie = TopicTrie::new();
    let mut next_key = 0u32;
    let mut subscribe = |trie: &mut TopicTrie<u32, u8>, filter: String| {
        trie.insert(&filter, next_key, (next_key % 3) as u8);
        next_key += 1;
    };
    for site in 0..SITES {
        for device in 0..EXACT_DEVICES_PER_SITE {
            subscribe(&mut trie, format!("site/{site}/device/{device}/temp"));
        }
        for device in 0..WILDCARD_DEVICES_PER_SITE {
            subscribe(&mut trie, format!("site/{site}/+/{device}/temp"));
        }
        if site < SITES / 2 {
            subscribe(&mut trie, format!("site/{site}/#"));
        } else {
            subscribe(&mut trie, format!("site/{site}/alarm/#"));
        }
    }
    assert_eq!(trie.len(), 100_000);
    trie
}

/// How many subscriptions match `topic`, visiting each.
fn count_matches(trie: &TopicTrie<u32, u8>, topic: &str) -> usize {
    let mut matches = 0;
    trie.for_each_match(topic, |key, qos| {
        black_box((key, qos));
        matches += 1;
    });
    matches
}

fn matching(c: &mut Criterion) {
    let trie = subscriptions();
    // The exact filter, the `+` filter and `site/7/#`.
    let three_matches = "site/7/device/3/temp";
    assert_eq!(count_matches(&trie, three_matches), 3);
    // Walks down both the `device` and the `+` branch of a site without `#`, and finds no subscriber.
    let no_match = "site/777/device/3/humidity";
    assert_eq!(count_matches(&trie, no_match), 0);

    let mut group = c.benchmark_group("topic/for_each_match");
    group.bench_function("3_of_100k", |b| {
        b.iter(|| count_matches(&trie, black_box(three_matches)))
    });
    group.bench_function("0_of_100k", |b| {
        b.iter(|| count_matches(&trie, black_box(no_match)))
    });
    group.finish();
}

fn churn(c: &mut Criterion) {
    let mut trie = subscriptions();
    // Filters that share the existing `site/N/device` prefix but add two new levels, so each subscribe
    // allocates two nodes and each unsubscribe frees them.
    let filters: Vec<String> = (0..SITES)
        .map(|site| format!("site/{site}/device/new/{site}"))
        .collect();
    let mut round = 0usize;
    c.bench_function("topic/insert_remove_100k", |b| {
        b.iter(|| {
            let filter = &filters[round % filters.len()];
            round += 1;
            trie.insert(black_box(filter), u32::MAX, 1);
            trie.remove(black_box(filter), &u32::MAX)
        })
    });
    assert_eq!(trie.len(), 100_000);
}

// `criterion_group!` generates a public function it cannot document.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::matching, super::churn);
}
criterion_main!(group::benches);
