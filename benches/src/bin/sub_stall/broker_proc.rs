//! The broker process's RSS and CPU time, read from `/proc/<pid>`.

use std::time::{Duration, Instant};

use crate::Result;

/// The broker process's resident set size in bytes.
pub(crate) fn rss(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS in /proc/<pid>/status")?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed VmRSS line")?
        .parse()?;
    Ok(kb * 1024)
}

pub(crate) use amqtt_benches::procfs::cpu_seconds;

/// Reads RSS once it has been stable (within 1 %) for 1 s, after at least 1 s and at most 30 s.
pub(crate) async fn settled_rss(pid: u32) -> Result<u64> {
    let until = Instant::now() + Duration::from_secs(30);
    let mut last = rss(pid)?;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = rss(pid)?;
        if now.abs_diff(last) * 100 <= last || Instant::now() > until {
            return Ok(now);
        }
        last = now;
    }
}
