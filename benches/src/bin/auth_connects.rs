//! Connects per second with a user name and password, against a running broker: the cost of an
//! auth plugin (a password hash, a database or HTTP round trip) per CONNECT, and what an answer
//! cache saves. See benches/AUTH_CONNECTS.md.
//!
//! `--clients` tasks each loop for `--secs` seconds: open a TCP connection, send CONNECT (clean
//! session, the given user name and password), read the CONNACK, send DISCONNECT, close. Prints
//! one JSON line: connects per second, the broker's CPU per connect (with `--pid`), CONNACK
//! latency p50/p99, and how many were refused or failed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use amqtt_benches::procfs::cpu_seconds;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Command-line options.
struct Options {
    addr: SocketAddr,
    pid: Option<u32>,
    user: String,
    password: String,
    clients: usize,
    secs: f64,
    label: String,
}

impl Options {
    fn parse() -> Result<Options> {
        let mut o = Options {
            addr: "127.0.0.1:21890".parse()?,
            pid: None,
            user: "bench".into(),
            password: "bench".into(),
            clients: 16,
            secs: 10.0,
            label: String::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--addr" => o.addr = value()?.parse()?,
                "--pid" => o.pid = Some(value()?.parse()?),
                "--user" => o.user = value()?,
                "--password" => o.password = value()?,
                "--clients" => o.clients = value()?.parse()?,
                "--secs" => o.secs = value()?.parse()?,
                "--label" => o.label = value()?,
                "-h" | "--help" => {
                    println!(
                        "auth_connects [--addr 127.0.0.1:21890] [--pid PID] [--user U] \
                         [--password P] [--clients 16] [--secs 10] [--label NAME]"
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown option {other}").into()),
            }
        }
        Ok(o)
    }
}

/// An MQTT 3.1.1 CONNECT: clean session, keep-alive 60 s, user name and password.
fn connect_frame(client_id: &str, user: &str, password: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&[0, 4, b'M', b'Q', b'T', b'T', 4, 0b1100_0010, 0, 60]);
    for field in [client_id, user, password] {
        let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
        body.extend_from_slice(&len.to_be_bytes());
        body.extend_from_slice(&field.as_bytes()[..usize::from(len)]);
    }
    let mut frame = vec![0x10];
    let mut remaining = body.len();
    loop {
        let byte = (remaining % 128) as u8;
        remaining /= 128;
        frame.push(if remaining > 0 { byte | 0x80 } else { byte });
        if remaining == 0 {
            break;
        }
    }
    frame.extend_from_slice(&body);
    frame
}

/// What one connect attempt gave.
enum Outcome {
    /// CONNACK 0x00, after this long.
    Accepted(Duration),
    /// CONNACK with another return code.
    Refused,
    /// No CONNACK (I/O error, closed, timeout).
    Failed,
}

/// One CONNECT / CONNACK / DISCONNECT round.
async fn connect_once(o: &Options, client_id: &str) -> Outcome {
    let started = Instant::now();
    let attempt = async {
        let mut stream = TcpStream::connect(o.addr).await?;
        stream.set_nodelay(true)?;
        stream
            .write_all(&connect_frame(client_id, &o.user, &o.password))
            .await?;
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack).await?;
        if connack[0] != 0x20 || connack[3] != 0 {
            return Ok::<bool, std::io::Error>(false);
        }
        stream.write_all(&[0xE0, 0]).await?;
        Ok(true)
    };
    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
        Ok(Ok(true)) => Outcome::Accepted(started.elapsed()),
        Ok(Ok(false)) => Outcome::Refused,
        _ => Outcome::Failed,
    }
}

/// The value at quantile `q` of sorted `values`, in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let o = std::sync::Arc::new(Options::parse()?);
    let deadline = Instant::now() + Duration::from_secs_f64(o.secs);
    let cpu_before = o.pid.map(cpu_seconds).transpose()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..o.clients {
        let o = o.clone();
        tasks.push(tokio::spawn(async move {
            let client_id = format!("auth-connects-{}-{client}", std::process::id());
            let (mut accepted, mut refused, mut failed) = (Vec::new(), 0u64, 0u64);
            while Instant::now() < deadline {
                match connect_once(&o, &client_id).await {
                    Outcome::Accepted(latency) => accepted.push(latency),
                    Outcome::Refused => refused += 1,
                    Outcome::Failed => failed += 1,
                }
            }
            (accepted, refused, failed)
        }));
    }
    let (mut latencies, mut refused, mut failed) = (Vec::new(), 0, 0);
    for task in tasks {
        let (a, r, f) = task.await?;
        latencies.extend(a);
        refused += r;
        failed += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (o.pid, cpu_before) {
        (Some(pid), Some(before)) => Some(cpu_seconds(pid)? - before),
        _ => None,
    };
    latencies.sort_unstable();
    let accepted = latencies.len() as f64;
    let cpu_us = cpu.map_or("null".to_owned(), |c| {
        format!("{:.1}", c / accepted.max(1.0) * 1e6)
    });
    println!(
        "{{\"label\":\"{}\",\"clients\":{},\"secs\":{elapsed:.2},\"connects_per_s\":{:.1},\
         \"broker_cpu_us_per_connect\":{cpu_us},\"connack_p50_ms\":{:.2},\"connack_p99_ms\":{:.2},\
         \"accepted\":{},\"refused\":{refused},\"failed\":{failed}}}",
        o.label,
        o.clients,
        accepted / elapsed,
        quantile_ms(&latencies, 0.5),
        quantile_ms(&latencies, 0.99),
        latencies.len(),
    );
    Ok(())
}
