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

/// The broker process's CPU time (user + system) in seconds, assuming 100 clock ticks a second.
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_comm = stat.rsplit_once(')').ok_or("malformed /proc/<pid>/stat")?.1;
    // Fields after the command name start at field 3 (state); utime and stime are 14 and 15.
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64> {
        Ok(fields.get(i - 3).ok_or("short /proc/<pid>/stat")?.parse()?)
    };
    Ok((ticks(14)? + ticks(15)?) as f64 / 100.0)
}

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
