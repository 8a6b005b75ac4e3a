//! Scenario 3 (`memory`): memory per subscription and memory returned at disconnect.

use std::net::SocketAddr;
use std::time::Instant;

use crate::Result;
use crate::broker_proc::{cpu_seconds, settled_rss};
use crate::options::Options;
use crate::probe::{PROBE_INTERVAL, Probe};
use crate::raw::{ANSWER_TIMEOUT, Client};
use crate::report::ms;

/// Waits until the broker answers a QoS 1 publish-to-self round trip on a fresh connection.
async fn broker_responsive(addr: SocketAddr) -> Result<()> {
    let probe = Probe::start(addr).await?;
    tokio::time::sleep(PROBE_INTERVAL * 4).await;
    probe.wait_caught_up(ANSWER_TIMEOUT).await;
    let (samples, _) = probe.stop().await?;
    if samples.is_empty() {
        return Err("no probe round trip completed".into());
    }
    Ok(())
}

/// Scenario 3: memory per subscription and memory returned at disconnect.
pub(crate) async fn scenario_memory(o: &Options) -> Result<()> {
    let addr = o.addr();
    broker_responsive(addr).await?;
    let before = settled_rss(o.pid).await?;
    let mut client =
        Client::connect(addr, &format!("sub-stall-mem-{}", std::process::id())).await?;
    let start = Instant::now();
    let cpu_before = cpu_seconds(o.pid)?;
    client
        .subscribe_many((0..o.n).map(|i| format!("load/sub/{i}")), o.chunk)
        .await?;
    let load_secs = start.elapsed().as_secs_f64();
    let load_cpu = cpu_seconds(o.pid)? - cpu_before;
    let loaded = settled_rss(o.pid).await?;
    let closed = Instant::now();
    client.close(true).await?;
    broker_responsive(addr).await?;
    let responsive_ms = ms(closed, Instant::now());
    let after = settled_rss(o.pid).await?;
    let per_sub = (loaded as f64 - before as f64) / o.n as f64;
    let grown = loaded.saturating_sub(before);
    let returned = loaded.saturating_sub(after);
    let returned_pct = if grown == 0 {
        0.0
    } else {
        returned as f64 * 100.0 / grown as f64
    };
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "memory [{}] {} subscriptions (clean session): RSS {:.1} -> {:.1} MiB = {:.0} bytes/subscription (loaded in {:.2} s, broker CPU {:.2} s); after DISCONNECT {:.1} MiB ({:.0} % of the growth returned; broker answered again after {:.0} ms)",
        o.label,
        o.n,
        mib(before),
        mib(loaded),
        per_sub,
        load_secs,
        load_cpu,
        mib(after),
        returned_pct,
        responsive_ms
    );
    println!(
        "{{\"scenario\":\"memory\",\"label\":\"{}\",\"subscriptions\":{},\"rss_before\":{},\"rss_loaded\":{},\"rss_after_disconnect\":{},\"bytes_per_sub\":{:.1},\"returned_pct\":{:.1},\"load_s\":{:.3},\"load_cpu_s\":{:.2},\"responsive_after_disconnect_ms\":{:.1}}}",
        o.label,
        o.n,
        before,
        loaded,
        after,
        per_sub,
        returned_pct,
        load_secs,
        load_cpu,
        responsive_ms
    );
    Ok(())
}
