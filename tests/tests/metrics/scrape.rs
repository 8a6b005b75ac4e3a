//! Reading `/metrics` and `/health` over real HTTP: a client, a strict check of the
//! OpenMetrics structure, and the samples read back with a Prometheus text parser.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use amqtt_tests::RECV_TIMEOUT;
pub(crate) use amqtt_tests::free_port;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(RECV_TIMEOUT)
        .build()
        .expect("an HTTP client")
}

/// `GET http://addr/path`: status and body.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> (reqwest::StatusCode, String, String) {
    let response = http()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("a text body");
    (status, content_type, body)
}

/// The figures of one scrape, by sample name and labels (`name{k="v",...}`, labels sorted).
pub(crate) struct Scrape(HashMap<String, f64>);

impl Scrape {
    pub(crate) fn value(&self, sample: &str) -> f64 {
        *self
            .0
            .get(sample)
            .unwrap_or_else(|| panic!("no sample `{sample}` in {:?}", self.0.keys()))
    }
}

/// Fetches `/metrics`, checks its structure ([`check_exposition`]) and reads it with a parser
/// of the Prometheus text format.
pub(crate) async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, content_type, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    check_exposition(&body);
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("the text format parses");
    let mut figures = HashMap::new();
    for sample in parsed.samples {
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            other => panic!("unexpected sample kind {other:?}"),
        };
        let mut labels: Vec<String> = sample
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        labels.sort();
        let key = if labels.is_empty() {
            sample.metric
        } else {
            format!("{}{{{}}}", sample.metric, labels.join(","))
        };
        assert!(figures.insert(key.clone(), value).is_none(), "{key} twice");
    }
    Scrape(figures)
}

/// The OpenMetrics structure, strictly: every family is `# HELP` (non-empty), then `# TYPE`
/// (counter or gauge), then `# UNIT` when its name ends in a unit, then its samples, named
/// `<family>_total` for a counter and `<family>` for a gauge; every family once; `# EOF` last.
fn check_exposition(body: &str) {
    let mut lines = body.lines().peekable();
    let mut families = Vec::new();
    while let Some(line) = lines.next() {
        if line == "# EOF" {
            assert!(lines.next().is_none(), "text after # EOF");
            assert!(families.len() > 10, "too few families: {families:?}");
            return;
        }
        let help = line
            .strip_prefix("# HELP ")
            .unwrap_or_else(|| panic!("a family starts with # HELP, not `{line}`"));
        let (name, text) = help.split_once(' ').expect("# HELP name text");
        assert!(name.starts_with("amqtt_") && !text.is_empty(), "{line}");
        assert!(!families.contains(&name), "family {name} twice");
        families.push(name);
        let kind = lines
            .next()
            .and_then(|l| l.strip_prefix(&format!("# TYPE {name} ")))
            .unwrap_or_else(|| panic!("# TYPE {name} follows its # HELP"));
        let sample = match kind {
            "counter" => format!("{name}_total"),
            "gauge" => name.to_owned(),
            other => panic!("{name}: unexpected type {other}"),
        };
        if name.ends_with("_bytes") {
            assert_eq!(lines.next(), Some(format!("# UNIT {name} bytes").as_str()));
        }
        let mut samples = 0;
        while let Some(line) = lines.next_if(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').expect("sample value");
            let series_name = series.split('{').next().unwrap_or_default();
            assert_eq!(series_name, sample, "{line}");
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("{line}: not a number"));
            samples += 1;
        }
        assert!(samples > 0, "{name} has no sample");
    }
    panic!("no # EOF at the end");
}

/// Polls `/metrics` until `sample` has `value`.
pub(crate) async fn wait_for(addr: SocketAddr, sample: &str, value: f64) {
    let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
    while scrape(addr).await.value(sample) != value {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sample} never reached {value}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
