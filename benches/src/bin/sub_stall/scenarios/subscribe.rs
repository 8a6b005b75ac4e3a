//! Scenario 1 (`subscribe`): the stall one SUBSCRIBE with many filters causes.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use amqtt_core::codec::{ByteString, Packet, QoS, Subscribe};
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use super::BASELINE;
use crate::Result;
use crate::broker_proc::cpu_seconds;
use crate::options::Options;
use crate::probe::Probe;
use crate::raw::{Client, packet_id};
use crate::report::{Stats, median, ms};

/// Scenario 1: the stall one SUBSCRIBE with many filters causes.
pub(crate) async fn scenario_subscribe(o: &Options) -> Result<()> {
    let addr = o.addr();
    let probe = Probe::start(addr).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline_start = Instant::now();
    tokio::time::sleep(BASELINE).await;
    let baseline_end = Instant::now();
    let cpu_before = cpu_seconds(o.pid)?;
    let mut windows = Vec::new();
    let mut suback_ms = Vec::new();
    for rep in 0..o.reps {
        let mut client =
            Client::connect(addr, &format!("sub-stall-{}-{rep}", std::process::id())).await?;
        let id = packet_id(1);
        let subscribe = Packet::Subscribe(Subscribe {
            packet_id: id,
            filters: (0..o.n)
                .map(|i| {
                    (
                        ByteString::from(format!("stall/{rep}/{i}/+")),
                        QoS::AtMostOnce.into(),
                    )
                })
                .collect(),
            properties: None,
        });
        let mut frame = BytesMut::new();
        subscribe.encode(&mut frame);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let start = Instant::now();
        client.stream.write_all(&frame).await?;
        client.expect_suback(id, o.n).await?;
        let acked = Instant::now();
        suback_ms.push(ms(start, acked));
        tokio::time::sleep(Duration::from_millis(100)).await;
        windows.push((start, Instant::now()));
        tokio::time::sleep(Duration::from_millis(200)).await;
        client.close(true).await?;
        probe.wait_caught_up(Duration::from_secs(60)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let cpu = cpu_seconds(o.pid)? - cpu_before;
    let (samples, lost) = probe.stop().await?;
    let stall = Stats::of(
        samples
            .iter()
            .filter(|s| windows.iter().any(|&(a, b)| s.overlaps(a, b))),
    );
    let baseline = Stats::of(
        samples
            .iter()
            .filter(|s| s.sent >= baseline_start && s.sent + s.rtt <= baseline_end),
    );
    let suback_median = median(&suback_ms);
    println!(
        "subscribe [{}] {} reps x 1 SUBSCRIBE of {} filters: SUBACK median {:.1} ms; probe in stall windows {}; baseline {}; lost {}; broker CPU {:.2} s",
        o.label,
        o.reps,
        o.n,
        suback_median,
        stall.human(),
        baseline.human(),
        lost,
        cpu
    );
    let mut suback_list = String::new();
    for (i, v) in suback_ms.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        write!(suback_list, "{sep}{v:.2}")?;
    }
    println!(
        "{{\"scenario\":\"subscribe\",\"label\":\"{}\",\"filters\":{},\"reps\":{},\"suback_ms\":[{}],\"suback_median_ms\":{:.3},{},{},\"lost\":{},\"broker_cpu_s\":{:.2}}}",
        o.label,
        o.n,
        o.reps,
        suback_list,
        suback_median,
        stall.json("stall"),
        baseline.json("baseline"),
        lost,
        cpu
    );
    Ok(())
}
