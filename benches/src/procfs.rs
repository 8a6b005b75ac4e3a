//! A process's CPU time, read from `/proc`, for the side-by-side tools.

use std::error::Error;
use std::fmt::Display;

/// CPU time (user + system) in seconds of `pid` (a process id, or `self`), assuming 100 clock
/// ticks a second.
pub fn cpu_seconds(pid: impl Display) -> Result<f64, Box<dyn Error + Send + Sync>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_comm = stat.rsplit_once(')').ok_or("malformed /proc/<pid>/stat")?.1;
    // Fields after the command name start at field 3 (state); utime and stime are 14 and 15.
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64, Box<dyn Error + Send + Sync>> {
        Ok(fields.get(i - 3).ok_or("short /proc/<pid>/stat")?.parse()?)
    };
    Ok((ticks(14)? + ticks(15)?) as f64 / 100.0)
}
