//! Tests of the subscription trie: the specification's examples, insert/replace/remove semantics, pruning,
//! and a property test against [`filter_matches`].

use std::collections::HashMap;
use std::mem::size_of;
use std::sync::Arc;

use proptest::prelude::*;

use super::children::Child;
use super::name::Name;
use super::subscribers::Subscribers;
use super::{Children, Node, TopicTrie};
use crate::codec::QoS;
use crate::topic::{MAX_FILTER_LEVELS, filter_matches, valid_topic_filter};

/// The sorted subscribers whose filter matches `topic`.
fn matching_keys<V>(trie: &TopicTrie<&'static str, V>, topic: &str) -> Vec<&'static str> {
    let mut keys = Vec::new();
    trie.for_each_match(topic, |key, _| keys.push(*key));
    keys.sort_unstable();
    keys
}

/// A trie where each filter is subscribed by a subscriber named after it.
fn trie_of(filters: &[&'static str]) -> TopicTrie<&'static str, ()> {
    let mut trie = TopicTrie::new();
    for filter in filters {
        assert!(valid_topic_filter(filter), "{filter:?}");
        trie.insert(filter, *filter, ());
    }
    trie
}

/// The sizes that make a subscription cheap, for a value laid out like the router's (a session handle and
/// a QoS, whose unused values let a lone subscriber sit in place without a tag).
#[test]
fn the_sizes_of_the_parts_do_not_grow() {
    type Router = (u64, (Arc<()>, QoS));
    assert_eq!(size_of::<Router>(), 24);
    assert_eq!(size_of::<Subscribers<u64, (Arc<()>, QoS)>>(), 24);
    assert_eq!(size_of::<Name>(), 16);
    assert_eq!(size_of::<Children<Node<u64, (Arc<()>, QoS)>>>(), 16);
    assert_eq!(size_of::<Node<u64, (Arc<()>, QoS)>>(), 40);
    assert_eq!(size_of::<Child<Node<u64, (Arc<()>, QoS)>>>(), 56);
}

#[test]
fn wildcards_in_a_level_with_many_children() {
    let mut trie = TopicTrie::new();
    for device in 0..20 {
        trie.insert(&format!("d/{device}"), device, ());
    }
    trie.insert("d/+", 100, ());
    trie.insert("d/#", 101, ());
    trie.insert("d/#/x", 102, ());
    assert!(matches!(
        &trie.root.children.get("d").map(|d| &d.children),
        Some(Children::Many(_))
    ));
    assert_eq!(matching_keys_of(&trie, "d/3"), [3, 100, 101]);
    assert_eq!(matching_keys_of(&trie, "d"), [101]);
    assert_eq!(matching_keys_of(&trie, "d/x/y"), [101]);
    assert_eq!(trie.remove("d/#", &101), Some(()));
    assert_eq!(matching_keys_of(&trie, "d/3"), [3, 100]);
    for device in 0..20 {
        assert_eq!(trie.remove(&format!("d/{device}"), &device), Some(()));
    }
    assert_eq!(matching_keys_of(&trie, "d/3"), [100]);
    assert!(matches!(
        &trie.root.children.get("d").map(|d| &d.children),
        Some(Children::Few(_))
    ));
    assert_eq!(trie.remove("d/+", &100), Some(()));
    assert_eq!(trie.remove("d/#/x", &102), Some(()));
    assert!(trie.root.is_empty());
}

/// The sorted keys whose filter matches `topic`.
fn matching_keys_of(trie: &TopicTrie<u32, ()>, topic: &str) -> Vec<u32> {
    let mut keys = Vec::new();
    trie.for_each_match(topic, |key, _| keys.push(*key));
    keys.sort_unstable();
    keys
}

#[test]
fn get_finds_exactly_the_filter_and_key() {
    let mut trie = TopicTrie::new();
    trie.insert("a/+", 1u32, 'p');
    trie.insert("a/#", 1, 'h');
    trie.insert("#", 2, 'r');
    trie.insert("+", 3, 's');
    trie.insert("a/b", 1, 'l');
    trie.insert("a/b", 2, 'm');
    assert_eq!(trie.get("a/+", &1), Some(&'p'));
    assert_eq!(trie.get("a/#", &1), Some(&'h'));
    assert_eq!(trie.get("#", &2), Some(&'r'));
    assert_eq!(trie.get("+", &3), Some(&'s'));
    assert_eq!(trie.get("a/b", &1), Some(&'l'));
    assert_eq!(trie.get("a/b", &2), Some(&'m'));
    // No wildcard matching: `a/c` is matched by `a/+` but not subscribed to.
    assert_eq!(trie.get("a/c", &1), None);
    assert_eq!(trie.get("a", &1), None);
    assert_eq!(trie.get("a/+/c", &1), None);
    assert_eq!(trie.get("+", &2), None);
    assert_eq!(trie.get("#", &3), None);
    assert_eq!(trie.get("a/+", &2), None);
    trie.insert("a/+", 1, 'q');
    assert_eq!(trie.get("a/+", &1), Some(&'q'));
    if let Some(value) = trie.get_mut("a/b", &2) {
        *value = 'n';
    }
    assert_eq!(trie.get("a/b", &2), Some(&'n'));
    assert_eq!(trie.get_mut("a/c", &1), None);
    assert_eq!(trie.get_mut("a/b", &3), None);
    assert_eq!(trie.remove("a/b", &1), Some('l'));
    assert_eq!(trie.get("a/b", &1), None);
    assert_eq!(trie.get("a/b", &2), Some(&'n'));
}

#[test]
fn wildcard_children_stay_in_front() {
    let mut trie = TopicTrie::new();
    for (key, filter) in ["a/x", "a/#", "a/y", "a/+", "a/z"].into_iter().enumerate() {
        trie.insert(filter, key, ());
    }
    let names =
        |trie: &TopicTrie<usize, ()>| trie.root.children.get("a").map(|a| a.children.names());
    assert_eq!(
        names(&trie),
        Some(
            vec!["+", "#", "x", "y", "z"]
                .into_iter()
                .map(String::from)
                .collect()
        )
    );
    trie.remove("a/+", &3);
    trie.remove("a/x", &0);
    assert_eq!(
        names(&trie),
        Some(vec!["#", "y", "z"].into_iter().map(String::from).collect())
    );
    trie.insert("a/+", 3, ());
    trie.remove("a/#", &1);
    assert_eq!(
        names(&trie),
        Some(vec!["+", "y", "z"].into_iter().map(String::from).collect())
    );
    // Through a table and back.
    for device in 0..20 {
        trie.insert(&format!("a/{device}"), 100 + device, ());
    }
    trie.insert("a/#", 1, ());
    assert!(names(&trie).is_some_and(|names| names[..2] == ["+", "#"]));
    for device in 0..20 {
        trie.remove(&format!("a/{device}"), &(100 + device));
    }
    assert!(matches!(
        &trie.root.children.get("a").map(|a| &a.children),
        Some(Children::Few(_))
    ));
    assert!(names(&trie).is_some_and(|names| names[..2] == ["+", "#"] && names.len() == 4));
    let mut matched = Vec::new();
    trie.for_each_match("a/y", |key, _| matched.push(*key));
    matched.sort_unstable();
    assert_eq!(matched, [1, 2, 3]);
}

/// One call per matching filter, with that filter's subscribers: a subscriber of two matching
/// filters is in two calls, never twice in one.
#[test]
fn matching_filters_are_visited_one_at_a_time() {
    let mut trie = TopicTrie::new();
    for (filter, key) in [("a/b", 1), ("a/b", 2), ("a/+", 1), ("a/#", 3), ("x/y", 4)] {
        trie.insert(filter, key, ());
    }
    let mut sets: Vec<Vec<i32>> = Vec::new();
    trie.for_each_matching_filter("a/b", |entries| {
        let mut keys: Vec<i32> = entries.iter().map(|(key, ())| *key).collect();
        keys.sort_unstable();
        sets.push(keys);
    });
    sets.sort();
    assert_eq!(sets, [vec![1], vec![1, 2], vec![3]]);
    let mut calls = 0;
    trie.for_each_matching_filter("x/y", |entries| {
        calls += 1;
        assert_eq!(entries.len(), 1);
    });
    assert_eq!(calls, 1);
    trie.for_each_matching_filter("nothing/here", |_| panic!("no filter matches"));
}

#[test]
fn spec_examples() {
    let trie = trie_of(&[
        "sport/tennis/player1/#",
        "sport/tennis/+",
        "sport/+",
        "sport/#",
        "+/+",
        "/+",
        "+",
        "#",
        "$SYS/#",
        "$SYS/monitor/+",
        "+/monitor/Clients",
    ]);
    assert_eq!(
        matching_keys(&trie, "sport/tennis/player1"),
        ["#", "sport/#", "sport/tennis/+", "sport/tennis/player1/#",]
    );
    assert_eq!(
        matching_keys(&trie, "sport/tennis/player1/ranking"),
        ["#", "sport/#", "sport/tennis/player1/#"]
    );
    assert_eq!(
        matching_keys(&trie, "sport/tennis/player1/score/wimbledon"),
        ["#", "sport/#", "sport/tennis/player1/#"]
    );
    assert_eq!(matching_keys(&trie, "sport"), ["#", "+", "sport/#"]);
    assert_eq!(
        matching_keys(&trie, "sport/"),
        ["#", "+/+", "sport/#", "sport/+"]
    );
    assert_eq!(matching_keys(&trie, "/finance"), ["#", "+/+", "/+"]);
    assert_eq!(matching_keys(&trie, "finance"), ["#", "+"]);
    assert_eq!(
        matching_keys(&trie, "$SYS/monitor/Clients"),
        ["$SYS/#", "$SYS/monitor/+"]
    );
    assert_eq!(matching_keys(&trie, "$SYS"), ["$SYS/#"]);
    assert_eq!(matching_keys(&trie, "$other"), Vec::<&str>::new());
    assert_eq!(
        matching_keys(&trie, "a/monitor/Clients"),
        ["#", "+/monitor/Clients"]
    );
}

#[test]
fn multi_level_wildcard_matches_its_parent_level() {
    let trie = trie_of(&["a/#", "a/b/#", "+/#"]);
    assert_eq!(matching_keys(&trie, "a"), ["+/#", "a/#"]);
    assert_eq!(matching_keys(&trie, "a/b"), ["+/#", "a/#", "a/b/#"]);
    assert_eq!(matching_keys(&trie, "a/b/c/d"), ["+/#", "a/#", "a/b/#"]);
    assert_eq!(matching_keys(&trie, "b"), ["+/#"]);
    assert_eq!(matching_keys(&trie, "$x/a"), Vec::<&str>::new());
}

#[test]
fn empty_levels_are_levels() {
    let trie = trie_of(&["a//b", "/a", "a/+/b", "/", "+/", "//#"]);
    assert_eq!(matching_keys(&trie, "a//b"), ["a/+/b", "a//b"]);
    assert_eq!(matching_keys(&trie, "/a"), ["/a"]);
    assert_eq!(matching_keys(&trie, "/"), ["+/", "/", "//#"]);
    assert_eq!(matching_keys(&trie, "a/"), ["+/"]);
    assert_eq!(matching_keys(&trie, "a/b"), Vec::<&str>::new());
}

#[test]
fn every_matching_filter_of_a_subscriber_is_visited() {
    let mut trie = TopicTrie::new();
    trie.insert("a/b", "client", 0u8);
    trie.insert("a/+", "client", 1);
    trie.insert("#", "client", 2);
    let mut granted = Vec::new();
    trie.for_each_match("a/b", |_, qos| granted.push(*qos));
    granted.sort_unstable();
    assert_eq!(granted, [0, 1, 2]);
}

#[test]
fn insert_replaces_the_value_of_the_same_key_on_the_same_filter() {
    let mut trie = TopicTrie::new();
    assert_eq!(trie.insert("a/+", 1u32, 'x'), None);
    assert_eq!(trie.insert("a/+", 2, 'y'), None);
    assert_eq!(trie.insert("a/#", 1, 'z'), None);
    assert_eq!(trie.len(), 3);
    assert_eq!(trie.insert("a/+", 1, 'w'), Some('x'));
    assert_eq!(trie.len(), 3);

    let mut matched = Vec::new();
    trie.for_each_match("a/b", |key, value| matched.push((*key, *value)));
    matched.sort_unstable();
    assert_eq!(matched, [(1, 'w'), (1, 'z'), (2, 'y')]);
}

#[test]
fn remove_takes_only_the_exact_filter_and_key() {
    let mut trie = TopicTrie::new();
    trie.insert("a/+", 1u32, 'x');
    trie.insert("a/+", 2, 'y');
    trie.insert("a/#", 1, 'z');
    assert_eq!(trie.remove("a/+", &3), None);
    assert_eq!(trie.remove("a/b", &1), None);
    assert_eq!(trie.remove("+", &1), None);
    assert_eq!(trie.remove("#", &1), None);
    assert_eq!(trie.remove("a/+/c", &1), None);
    assert_eq!(trie.len(), 3);

    assert_eq!(trie.remove("a/+", &1), Some('x'));
    assert_eq!(trie.remove("a/+", &1), None);
    assert_eq!(trie.len(), 2);
    let mut matched = Vec::new();
    trie.for_each_match("a/b", |key, value| matched.push((*key, *value)));
    matched.sort_unstable();
    assert_eq!(matched, [(1, 'z'), (2, 'y')]);
}

#[test]
fn removing_everything_prunes_every_node() {
    let filters = [
        "a/b/c", "a/b", "a/+/c", "+/+", "#", "a/#", "/", "//", "a//b/#", "$SYS/#", "x/y/z/w",
    ];
    let mut trie = TopicTrie::new();
    for (key, filter) in filters.iter().enumerate() {
        trie.insert(filter, key, ());
        trie.insert(filter, key + 100, ());
    }
    assert_eq!(trie.len(), filters.len() * 2);

    for (key, filter) in filters.iter().enumerate().rev() {
        assert_eq!(trie.remove(filter, &key), Some(()), "{filter:?}");
        assert_eq!(trie.remove(filter, &(key + 100)), Some(()), "{filter:?}");
    }
    assert_eq!(trie.len(), 0);
    assert!(trie.is_empty());
    assert!(trie.root.is_empty(), "pruning left {:?}", trie.root);
    assert!(matches!(&trie.root.children, Children::Few(children) if children.is_empty()));
}

#[test]
fn churn_does_not_grow_the_trie() {
    let mut trie = TopicTrie::new();
    trie.insert("site/+/temp", 0u32, ());
    for round in 0..1_000u32 {
        let filter = format!("site/{round}/device/{round}/temp");
        trie.insert(&filter, round, ());
        assert_eq!(trie.remove(&filter, &round), Some(()));
    }
    assert_eq!(trie.len(), 1);
    let site = trie.root.children.get("site");
    assert!(site.is_some_and(|site| site.children.len() == 1 && site.children.get("+").is_some()));
}

#[test]
fn a_level_with_many_children_moves_to_a_map_and_back() {
    let mut trie = TopicTrie::new();
    let filters: Vec<String> = (0..100)
        .map(|device| format!("device/{device}/temp"))
        .collect();
    for (key, filter) in filters.iter().enumerate() {
        trie.insert(filter, key, ());
    }
    let device_children = |trie: &TopicTrie<usize, ()>| match trie.root.children.get("device") {
        Some(device) => match &device.children {
            Children::Few(_) => ("few", device.children.len()),
            Children::Many(_) => ("many", device.children.len()),
        },
        None => ("pruned", 0),
    };
    assert_eq!(device_children(&trie), ("many", 100));

    for (key, filter) in filters.iter().enumerate().rev() {
        let mut matched = Vec::new();
        trie.for_each_match(filter, |key, _| matched.push(*key));
        assert_eq!(matched, [key], "{filter:?}");
        assert_eq!(trie.remove(filter, &key), Some(()));
        trie.for_each_match(filter, |key, _| {
            panic!("{filter:?} still matches subscriber {key}")
        });
        let expected = match key {
            0 => ("pruned", 0),
            1..=3 => ("few", key),
            _ => ("many", key),
        };
        assert_eq!(device_children(&trie), expected);
    }
    assert!(trie.root.is_empty());
}

/// Every operation recurses once per level; at [`MAX_FILTER_LEVELS`] that must fit easily in a stack far
/// smaller than a tokio worker's 2 MiB, even unoptimised, and a topic name of 65,535 empty levels must
/// not go deeper than the filters.
#[test]
fn the_deepest_valid_filters_fit_a_small_stack() {
    let deepest_filters = [
        vec!["+"; MAX_FILTER_LEVELS].join("/"),
        "/".repeat(MAX_FILTER_LEVELS - 1),
        format!("{}#", "/".repeat(MAX_FILTER_LEVELS - 1)),
    ];
    let run = move || {
        let mut trie = TopicTrie::new();
        for (key, filter) in deepest_filters.iter().enumerate() {
            assert!(valid_topic_filter(filter));
            trie.insert(filter, key, ());
        }
        let mut matched = Vec::new();
        trie.for_each_match(&"/".repeat(MAX_FILTER_LEVELS - 1), |key, _| {
            matched.push(*key)
        });
        matched.sort_unstable();
        assert_eq!(matched, [0, 1, 2]);
        matched.clear();
        trie.for_each_match(&"/".repeat(u16::MAX.into()), |key, _| matched.push(*key));
        assert_eq!(matched, [2]);
        assert_eq!(trie.remove(&deepest_filters[0], &0), Some(()));
        drop(trie);
    };
    let small_stack = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(run);
    assert!(small_stack.is_ok_and(|thread| thread.join().is_ok()));
}

/// The literal levels: a small alphabet, so that random filters often match, and longer names than fit
/// inline (14 bytes).
const LITERALS: [&str; 6] = ["a", "b", "", "$x", "sixteen-bytes-xx", "sixteen-bytes-xy"];

/// A level of a topic name, from [`LITERALS`] or, less often, from enough other names that a level has
/// more children than a list keeps (so that wildcards sit beside a table).
fn name_level() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(LITERALS.to_vec()).prop_map(String::from),
        1 => (0..12u8).prop_map(|n| format!("n{n}")),
    ]
}

fn topic_name() -> impl Strategy<Value = String> {
    prop::collection::vec(name_level(), 1..5)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("a topic name is not empty", |name| !name.is_empty())
}

fn topic_filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![4 => name_level(), 1 => Just(String::from("+"))];
    (prop::collection::vec(level, 0..5), any::<bool>())
        .prop_map(|(mut levels, ends_with_multi_level)| {
            if ends_with_multi_level {
                levels.push(String::from("#"));
            }
            levels.join("/")
        })
        .prop_filter("a filter is valid", |filter| valid_topic_filter(filter))
}

/// The sorted (key, value) pairs the trie visits for `topic`.
fn trie_matches(trie: &TopicTrie<u8, usize>, topic: &str) -> Vec<(u8, usize)> {
    let mut matched = Vec::new();
    trie.for_each_match(topic, |key, value| matched.push((*key, *value)));
    matched.sort_unstable();
    matched
}

/// The sorted (key, value) pairs of `subscriptions` whose filter matches `topic`, by [`filter_matches`].
fn expected_matches(subscriptions: &HashMap<(String, u8), usize>, topic: &str) -> Vec<(u8, usize)> {
    let mut matched: Vec<_> = subscriptions
        .iter()
        .filter(|((filter, _), _)| filter_matches(filter, topic))
        .map(|((_, key), value)| (*key, *value))
        .collect();
    matched.sort_unstable();
    matched
}

proptest! {
    #[test]
    fn trie_agrees_with_filter_matches(
        subscriptions in prop::collection::vec((topic_filter(), 0u8..3), 0..48),
        topics in prop::collection::vec(topic_name(), 1..8),
    ) {
        let mut trie = TopicTrie::new();
        let mut model = HashMap::new();
        for (value, (filter, key)) in subscriptions.iter().enumerate() {
            let replaced = model.insert((filter.clone(), *key), value);
            prop_assert_eq!(trie.insert(filter, *key, value), replaced);
        }
        prop_assert_eq!(trie.len(), model.len());
        for ((filter, key), value) in &model {
            prop_assert_eq!(trie.get(filter, key), Some(value));
        }
        for topic in &topics {
            prop_assert_eq!(trie_matches(&trie, topic), expected_matches(&model, topic), "topic {:?}", topic);
        }

        for (filter, key) in subscriptions.iter().step_by(2) {
            let removed = model.remove(&(filter.clone(), *key));
            prop_assert_eq!(trie.remove(filter, key), removed);
            prop_assert_eq!(trie.get(filter, key), None);
        }
        prop_assert_eq!(trie.len(), model.len());
        for topic in &topics {
            prop_assert_eq!(trie_matches(&trie, topic), expected_matches(&model, topic), "topic {:?}", topic);
        }

        for (filter, key) in &subscriptions {
            let removed = model.remove(&(filter.clone(), *key));
            prop_assert_eq!(trie.remove(filter, key), removed);
        }
        prop_assert!(trie.is_empty());
        prop_assert!(trie.root.is_empty());
    }
}

#[test]
fn removing_from_a_large_level_hands_back_its_tables_instead_of_freeing_them() {
    let mut trie = TopicTrie::new();
    let filters: Vec<String> = (0..10_000).map(|i| format!("big/{i}")).collect();
    for (key, filter) in filters.iter().enumerate() {
        trie.insert(filter, key, ());
    }
    let mut released_tables = 0;
    for (key, filter) in filters.iter().enumerate() {
        let (removed, released) = trie.remove_deferred(filter, &key);
        assert_eq!(removed, Some(()));
        let left = filters.len() - key - 1;
        if !released.is_empty() {
            released_tables += 1;
            // Only once few children are left (moving them is cheap), and they are all still there.
            assert!(left <= 2048, "released with {left} children left");
            for (other, filter) in filters.iter().enumerate().skip(key + 1) {
                assert_eq!(trie.get(filter, &other), Some(&()));
            }
        }
    }
    assert!(
        released_tables >= 1,
        "the level's large table is handed back"
    );
    assert!(trie.is_empty());
    // A small level's table is freed on the spot.
    for key in 0..100 {
        trie.insert(&format!("small/{key}"), key, ());
    }
    for key in 0..100 {
        assert!(
            trie.remove_deferred(&format!("small/{key}"), &key)
                .1
                .is_empty()
        );
    }
}
