//! CPU time and memory of a process, read from `/proc/<pid>` (`self` for this tool).

use crate::Result;

pub(crate) use amqtt_benches::procfs::cpu_seconds;

/// A `/proc/<pid>/status` memory line in MiB: `VmRSS` (current) or `VmHWM` (peak resident).
pub(crate) fn mem_mib(pid: u32, key: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))?
        .split_whitespace()
        .next()
        .ok_or("malformed /proc/<pid>/status line")?
        .parse()?;
    Ok(kb as f64 / 1024.0)
}
