//! Scenario 2 (`disconnect`): the stall a client with many subscriptions causes when it goes away.

use std::time::{Duration, Instant};

use super::BASELINE;
use crate::Result;
use crate::broker_proc::cpu_seconds;
use crate::options::Options;
use crate::probe::Probe;
use crate::raw::{ANSWER_TIMEOUT, Client};
use crate::report::{Stats, ms};

/// Scenario 2: the stall a client with many subscriptions causes when it goes away.
pub(crate) async fn scenario_disconnect(o: &Options) -> Result<()> {
    let addr = o.addr();
    let variants: &[bool] = match o.variant.as_str() {
        "close" => &[false],
        "disconnect" => &[true],
        _ => &[false, true],
    };
    for &polite in variants {
        let name = if polite { "disconnect" } else { "close" };
        let probe = Probe::start(addr).await?;
        let mut client =
            Client::connect(addr, &format!("sub-stall-disc-{}", std::process::id())).await?;
        let load_start = Instant::now();
        let cpu_start = cpu_seconds(o.pid)?;
        client
            .subscribe_many((0..o.n).map(|i| format!("disc/{i}")), o.chunk)
            .await?;
        let load_secs = load_start.elapsed().as_secs_f64();
        let load_cpu = cpu_seconds(o.pid)? - cpu_start;
        probe.wait_caught_up(Duration::from_secs(60)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let baseline_start = Instant::now();
        tokio::time::sleep(BASELINE).await;
        let baseline_end = Instant::now();
        let cpu_before = cpu_seconds(o.pid)?;
        let closed = Instant::now();
        client.close(polite).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let caught_up = probe.wait_caught_up(ANSWER_TIMEOUT).await;
        let window_end = caught_up + Duration::from_millis(100);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let cpu = cpu_seconds(o.pid)? - cpu_before;
        let (samples, lost) = probe.stop().await?;
        let stall = Stats::of(samples.iter().filter(|s| s.overlaps(closed, window_end)));
        let baseline = Stats::of(
            samples
                .iter()
                .filter(|s| s.sent >= baseline_start && s.sent + s.rtt <= baseline_end),
        );
        println!(
            "disconnect [{}] {} subscriptions, {}: loaded in {:.2} s (broker CPU {:.2} s); probe from close to caught up (window {:.0} ms) {}; baseline with the load {}; lost {}; broker CPU in window {:.2} s",
            o.label,
            o.n,
            if polite {
                "DISCONNECT + close"
            } else {
                "plain TCP close"
            },
            load_secs,
            load_cpu,
            ms(closed, caught_up),
            stall.human(),
            baseline.human(),
            lost,
            cpu
        );
        println!(
            "{{\"scenario\":\"disconnect\",\"variant\":\"{name}\",\"label\":\"{}\",\"subscriptions\":{},\"chunk\":{},\"load_s\":{:.3},\"load_cpu_s\":{:.2},\"window_ms\":{:.1},{},{},\"lost\":{},\"broker_cpu_s\":{:.2}}}",
            o.label,
            o.n,
            o.chunk,
            load_secs,
            load_cpu,
            ms(closed, caught_up),
            stall.json("stall"),
            baseline.json("baseline"),
            lost,
            cpu
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}
