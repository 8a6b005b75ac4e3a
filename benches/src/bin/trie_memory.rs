//! Measures what the subscription trie costs per subscription: inserts N distinct filters of one
//! subscriber, prints the growth of the process's resident memory per entry, then the time per removal.
//!
//! ```text
//! cargo build --release -p amqtt-benches --bin trie_memory
//! target/release/trie_memory 1000000            # filters like load/sub/12345
//! target/release/trie_memory 1000000 middle     # filters like load/12345/x
//! ```
//!
//! Run one size per process: memory freed by an earlier run would be reused and hide the growth.

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use amqtt_core::codec::QoS;
use amqtt_core::topic::TopicTrie;

/// Laid out like the router's value: a session handle and a QoS (16 bytes, with the QoS's unused values).
type Value = (Arc<()>, QoS);

/// The resident memory of this process in bytes, from `/proc/self/statm`.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // 4 KiB pages, as on every Linux this runs on.
    Some(pages * 4096)
}

/// Writes the `index`th filter into `filter`: `load/sub/<index>`, or `load/<index>/x` when `middle`.
fn write_filter(filter: &mut String, index: u64, middle: bool) {
    use std::fmt::Write;
    filter.clear();
    let written = if middle {
        write!(filter, "load/{index}/x")
    } else {
        write!(filter, "load/sub/{index}")
    };
    written.expect("writing to a String cannot fail");
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(count) = args.next().and_then(|count| count.parse::<u64>().ok()) else {
        eprintln!("usage: trie_memory COUNT [middle]");
        return ExitCode::FAILURE;
    };
    let middle = args.next().is_some_and(|shape| shape == "middle");
    let session = Arc::new(());
    let mut filter = String::with_capacity(32);
    let mut trie: TopicTrie<u64, Value> = TopicTrie::new();

    let Some(before) = resident_bytes() else {
        eprintln!("cannot read /proc/self/statm");
        return ExitCode::FAILURE;
    };
    for index in 0..count {
        write_filter(&mut filter, index, middle);
        trie.insert(&filter, 1, (session.clone(), QoS::AtLeastOnce));
    }
    let Some(after) = resident_bytes() else {
        eprintln!("cannot read /proc/self/statm");
        return ExitCode::FAILURE;
    };
    assert_eq!(trie.len() as u64, count);
    let per_entry = after.saturating_sub(before) as f64 / count as f64;

    let mut topic = String::with_capacity(32);
    write_filter(&mut topic, count / 2, middle);
    let mut matched = 0;
    trie.for_each_match(&topic, |_, _| matched += 1);
    assert_eq!(matched, 1);

    let started = Instant::now();
    for index in 0..count {
        write_filter(&mut filter, index, middle);
        black_box(trie.remove(&filter, &1));
    }
    let removal = started.elapsed().as_nanos() as f64 / count as f64;
    assert!(trie.is_empty());

    let shape = if middle { "load/N/x" } else { "load/sub/N" };
    println!(
        "{count} filters {shape}: {per_entry:.1} bytes/entry (RSS growth), {removal:.0} ns/removal"
    );
    ExitCode::SUCCESS
}
