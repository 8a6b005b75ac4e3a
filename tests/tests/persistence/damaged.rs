//! A store file that cannot be read does not keep the broker from starting: garbage is moved
//! aside to `<file>.damaged-<unix seconds>` and the broker starts empty; a store truncated to
//! half its size still lets it start and serve.

use amqtt_core::codec::QoS;

use super::support::{
    SILENCE, StoreBroker, connect, disconnect, expect_message, publish, subscribe,
};

/// A SQLite store `store.db` in the working directory that a clean stop keeps.
const KEEP: &str = "  persistence:\n    connection: sqlite+aiosqlite:///store.db\n    \
                    clear_on_shutdown: false\n";

/// A QoS 1 round trip through the broker, and a persistent session it accepts.
async fn assert_serves(broker: &StoreBroker) {
    let addr = broker.addr();
    let mut sub = connect(addr, "probe-sub", false, false).await;
    subscribe(&mut sub, 1, &[("probe/t", QoS::AtLeastOnce)]).await;
    let mut publisher = connect(addr, "probe-pub", true, false).await;
    publish(
        &mut publisher,
        "probe/t",
        b"alive",
        QoS::AtLeastOnce,
        false,
        1,
    )
    .await;
    expect_message(&mut sub, "probe/t", b"alive", QoS::AtLeastOnce, false).await;
    sub.expect_silence(SILENCE).await;
    disconnect(sub).await;
    disconnect(publisher).await;
}

/// The names of the files in the broker's directory that start with `prefix`.
fn files_starting_with(broker: &StoreBroker, prefix: &str) -> Vec<String> {
    std::fs::read_dir(broker.dir())
        .expect("list the broker's directory")
        .map(|entry| entry.expect("a directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn a_garbage_store_file_is_moved_aside_and_the_broker_starts_empty() {
    let mut broker = StoreBroker::new("", KEEP);
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| u8::try_from(i.wrapping_mul(2_654_435_761) >> 24).expect("a byte"))
        .collect();
    std::fs::write(broker.path("store.db"), &garbage).expect("write the garbage store");

    broker.restart().await;
    assert_serves(&broker).await;
    let aside = files_starting_with(&broker, "store.db.damaged-");
    assert_eq!(
        aside.len(),
        1,
        "one store.db.damaged-<seconds> file in {}: {:?}",
        broker.dir().display(),
        files_starting_with(&broker, "store.db")
    );
    let moved = std::fs::read(broker.path(&aside[0])).expect("read the moved file");
    assert!(moved == garbage, "the damaged file is kept as it was");
    let output = broker.output_text();
    assert!(
        output.contains(&aside[0]),
        "the broker's log does not name {}:\n{output}",
        aside[0]
    );
    broker.terminate().await;
}

#[tokio::test]
async fn a_store_truncated_to_half_its_size_still_lets_the_broker_start() {
    let mut broker = StoreBroker::start("", KEEP).await;
    // Enough stored state for a file of several pages.
    let addr = broker.addr();
    let mut sub = connect(addr, "trunc-sub", false, false).await;
    subscribe(&mut sub, 1, &[("trunc/#", QoS::AtLeastOnce)]).await;
    disconnect(sub).await;
    let mut publisher = connect(addr, "trunc-pub", true, false).await;
    let big = vec![b'x'; 2000];
    for n in 1..=60 {
        let topic = format!("trunc/{n}");
        publish(
            &mut publisher,
            &topic,
            &big,
            QoS::AtLeastOnce,
            n % 3 == 0,
            n,
        )
        .await;
    }
    disconnect(publisher).await;
    broker.terminate().await;

    let db = broker.path("store.db");
    let len = std::fs::metadata(&db)
        .expect("the store file after a clean stop")
        .len();
    assert!(len > 8192, "the store holds several pages: {len} bytes");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .and_then(|file| file.set_len(len / 2))
        .expect("truncate the store file");

    broker.restart().await;
    assert_serves(&broker).await;
    // What a half file cannot give back is not made up: the damaged file is kept beside the
    // new store for inspection, and the broker said so.
    let aside = files_starting_with(&broker, "store.db.damaged-");
    assert_eq!(aside.len(), 1, "one store.db.damaged-<seconds> file");
    assert!(
        broker.output_text().contains(&aside[0]),
        "the broker's log names the damaged file"
    );
    broker.terminate().await;
}
