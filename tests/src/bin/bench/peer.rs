//! `make bench-peer`: ours against a peer, Cloud Custodian's Lambda handler, cold start by
//! cold start. Each round makes two fresh 5/5 tables and starts, one after the other, the
//! probe, dynamodb-throttle on a throttled-PutItem CloudTrail event for the first table, and
//! Custodian (a cloudtrail-mode policy with the dynamodb-table `update` action, packaged by
//! scripts/bench-peer.sh from tests/peer/) on the same sample rewritten for the second: the
//! same Runtime API server (`servers::cold_start`), the same emulators, interleaved.
//!
//! AWS calls are counted on the wire for all three alike: every emulator endpoint a start
//! is given is a counting proxy in front of the emulator (Custodian's boto3 is out of reach
//! of tests/src/calls.rs). The proxy adds one local hop to every call of every row.
//!
//! The section it writes into docs/benchmarks.md sits between two marker lines, which
//! `make bench` keeps as they are and `make bench-peer` replaces.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use integration_tests::servers::{Start, cold_start};
use integration_tests::{Emulators, sample_event, unique};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::{ms, percentile};

/// Rounds: every row is started once per round.
pub const ROUNDS: usize = 30;

/// The lines around the section; everything between them is `make bench-peer`'s.
pub const BEGIN: &str = "<!-- make bench-peer: begin (make bench keeps this section) -->";
pub const END: &str = "<!-- make bench-peer: end -->";

/// Custodian's policy raises the table's write capacity to this (tests/peer/policy.yml).
const PEER_WRITE_CAPACITY: i64 = 10;

/// The operations a counting proxy has forwarded, in the order they were sent.
#[derive(Clone, Default)]
struct Forwarded(Arc<Mutex<Vec<String>>>);

impl Forwarded {
    fn push(&self, operation: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(operation);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The operation an AWS request names: the JSON protocols' `X-Amz-Target`, the query
/// protocol's `Action`, rpcv2 CBOR's path; S3's REST calls by method.
fn operation(method: &str, path: &str, target: Option<&str>, body: &[u8]) -> String {
    if let Some(target) = target {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    if let Some((_, operation)) = path.rsplit_once("/operation/") {
        return operation.to_owned();
    }
    let form = String::from_utf8_lossy(body);
    if let Some(action) = form.split('&').find_map(|pair| pair.strip_prefix("Action=")) {
        return action.to_owned();
    }
    let segments = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .count();
    match (method, segments) {
        ("PUT", 2..) => "PutObject".to_owned(),
        ("GET", 2..) => "GetObject".to_owned(),
        _ => format!("{method} {path}"),
    }
}

/// A counting reverse proxy in front of one endpoint: each downstream connection gets one
/// upstream connection of its own, so a client's keep-alive behaves as it would direct.
struct Proxy {
    endpoint: String,
    server: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String, forwarded: Forwarded) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("proxy: {e}"))?;
        let endpoint = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (upstream, forwarded) = (upstream.clone(), forwarded.clone());
                tokio::spawn(async move {
                    let sender = Arc::new(tokio::sync::Mutex::new(None));
                    let service = hyper::service::service_fn(move |request| {
                        let (upstream, forwarded, sender) =
                            (upstream.clone(), forwarded.clone(), sender.clone());
                        async move {
                            Ok::<_, Infallible>(
                                forward(request, &upstream, &forwarded, &sender)
                                    .await
                                    .unwrap_or_else(|e| {
                                        let mut response = Response::new(Full::new(Bytes::from(e)));
                                        *response.status_mut() = StatusCode::BAD_GATEWAY;
                                        response
                                    }),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { endpoint, server })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn forward(
    request: Request<Incoming>,
    upstream: &str,
    forwarded: &Forwarded,
    sender: &tokio::sync::Mutex<Option<Sender>>,
) -> Result<Response<Full<Bytes>>, String> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let target = parts.headers.get("x-amz-target").and_then(|t| t.to_str().ok());
    forwarded.push(operation(parts.method.as_str(), parts.uri.path(), target, &body));
    let request = Request::from_parts(parts, Full::new(body));

    let mut sender = sender.lock().await;
    if sender.as_ref().is_none_or(|s| s.is_closed()) {
        let stream = TcpStream::connect(upstream)
            .await
            .map_err(|e| format!("{upstream}: {e}"))?;
        let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        *sender = Some(send);
    }
    let send = sender.as_mut().ok_or("no upstream connection")?;
    let response = send.send_request(request).await.map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// One row of the section.
struct Row {
    name: &'static str,
    event: &'static str,
    outcome: String,
    starts: Vec<Start>,
    calls: Vec<Vec<String>>,
}

impl Row {
    fn new(name: &'static str, event: &'static str) -> Self {
        Self {
            name,
            event,
            outcome: String::new(),
            starts: Vec::new(),
            calls: Vec::new(),
        }
    }

    fn median(&self, of: impl Fn(&Start) -> Duration) -> Duration {
        let mut values: Vec<Duration> = self.starts.iter().map(of).collect();
        values.sort();
        percentile(&values, 50.0)
    }

    fn p95(&self, of: impl Fn(&Start) -> Duration) -> Duration {
        let mut values: Vec<Duration> = self.starts.iter().map(of).collect();
        values.sort();
        percentile(&values, 95.0)
    }

    fn peak_rss_mib(&self) -> f64 {
        self.starts
            .iter()
            .map(|s| s.peak_rss_kib)
            .max()
            .unwrap_or_default() as f64
            / 1024.0
    }

    fn median_calls(&self) -> usize {
        let mut counts: Vec<usize> = self.calls.iter().map(Vec::len).collect();
        counts.sort_unstable();
        counts
            .get(counts.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or_default()
    }
}

/// The peer's packaged task (scripts/bench-peer.sh): its `bootstrap` is what is started.
fn peer_task() -> Result<PathBuf, String> {
    std::env::var_os("PEER_TASK")
        .map(PathBuf::from)
        .ok_or_else(|| "PEER_TASK is not set: run through `make bench-peer`".to_owned())
}

/// Every emulator or stub endpoint in `env` replaced by a counting proxy in front of it.
async fn behind_proxies(
    env: &mut [(String, String)],
    forwarded: &Forwarded,
) -> Result<(Vec<Proxy>, BTreeMap<String, String>), String> {
    let mut proxies = Vec::new();
    let mut by_upstream: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in env.iter_mut() {
        if !name.starts_with("AWS_ENDPOINT_URL") {
            continue;
        }
        let Some(upstream) = value.strip_prefix("http://") else {
            return Err(format!("{name}={value}: not a local emulator"));
        };
        let upstream = upstream.trim_end_matches('/').to_owned();
        if !by_upstream.contains_key(&upstream) {
            let proxy = Proxy::start(upstream.clone(), forwarded.clone()).await?;
            by_upstream.insert(upstream.clone(), proxy.endpoint.clone());
            proxies.push(proxy);
        }
        value.clone_from(&by_upstream[&upstream]);
    }
    Ok((proxies, by_upstream))
}

/// Custodian's environment: the same AWS settings (endpoints, credentials, region) and
/// what its own handler and packaging need.
fn peer_environment(
    env: &[(String, String)],
    task: &std::path::Path,
) -> Result<Vec<(String, String)>, String> {
    let mut peer: Vec<(String, String)> = env
        .iter()
        .filter(|(name, _)| name.starts_with("AWS_"))
        .cloned()
        .collect();
    // Custodian tags resources through the Resource Groups Tagging API, which moto serves
    // (as it serves STS, whose endpoint is moto's).
    let moto = env
        .iter()
        .find(|(name, _)| name == "AWS_ENDPOINT_URL_STS")
        .map(|(_, value)| value.clone())
        .ok_or("AWS_ENDPOINT_URL_STS is not set")?;
    peer.push(("AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API".to_owned(), moto));
    peer.extend([
        // Custodian's handler drops every event with an errorCode unless told otherwise;
        // a throttle is exactly such an event (c7n/handler.py, C7N_SKIP_ERR_EVENT).
        ("C7N_SKIP_ERR_EVENT".to_owned(), "no".to_owned()),
        ("LAMBDA_TASK_ROOT".to_owned(), task.display().to_string()),
        ("_HANDLER".to_owned(), "custodian_policy.run".to_owned()),
        ("TZ".to_owned(), ":UTC".to_owned()),
        ("LANG".to_owned(), "en_US.UTF-8".to_owned()),
    ]);
    Ok(peer)
}

/// Probe, ours and Custodian, `ROUNDS` rounds; then every table each changed, described.
pub async fn measure(aws: &Emulators) -> Result<String, String> {
    let task = peer_task()?;
    let stores = aws.stores().await;
    let forwarded = Forwarded::default();
    let mut env = super::cold::environment(&stores);
    let (_proxies, by_upstream) = behind_proxies(&mut env, &forwarded).await?;
    let peer_env = peer_environment(&env, &task)?;
    let bootstrap = task.join("bootstrap");

    let mut probe = Row::new("probe", "one DescribeTable");
    let mut ours = Row::new("dynamodb-throttle", "throttled PutItem (CloudTrail)");
    let mut peer = Row::new("Cloud Custodian", "throttled PutItem (CloudTrail)");
    let (mut our_tables, mut peer_tables) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let ours_table = unique("peer-ours");
        let peer_table = unique("peer-c7n");
        aws.create_table(&ours_table, 5, 5, &[]).await;
        aws.create_table(&peer_table, 5, 5, &[]).await;
        let sample = "dynamodb/cloudtrail-putitem-throttled.json";
        let ours_event = super::cold::fresh(sample_event(sample, "orders", &ours_table), round);
        let peer_event = super::cold::fresh(sample_event(sample, "orders", &peer_table), round);

        for (row, binary, env, event) in [
            (
                &mut probe,
                super::cold::binary("probe"),
                &env,
                json!({ "table": ours_table }),
            ),
            (
                &mut ours,
                super::cold::binary("dynamodb-throttle"),
                &env,
                ours_event,
            ),
            (&mut peer, bootstrap.clone(), &peer_env, peer_event),
        ] {
            forwarded.take();
            let function = if row.name == "Cloud Custodian" {
                "custodian-dynamodb-throttle-peer"
            } else {
                row.name
            };
            let started = cold_start(&binary, function, env, &[event]).await?;
            let calls = forwarded.take();
            row.outcome = super::cold::outcome(&started.result);
            let ok = match row.name {
                "dynamodb-throttle" => row.outcome.starts_with("remediated"),
                // Custodian's handler returns true once its policies ran.
                "Cloud Custodian" => started.result == Ok(Value::Bool(true)),
                _ => started.result.is_ok(),
            };
            if !ok {
                return Err(format!("{} in round {round}: {:?}", row.name, started.result));
            }
            row.starts.push(started);
            row.calls.push(calls);
        }
        our_tables.push(ours_table);
        peer_tables.push(peer_table);
    }
    peer.outcome = "ok (returned true)".to_owned();

    let changed = |tables: Vec<String>| async move {
        let mut raised = 0;
        for table in &tables {
            let description = aws.wait_active(table).await;
            let write = description
                .provisioned_throughput()
                .and_then(|t| t.write_capacity_units())
                .unwrap_or_default();
            if write == PEER_WRITE_CAPACITY {
                raised += 1;
            }
        }
        (raised, tables.len())
    };
    let ours_changed = changed(our_tables).await;
    let peer_changed = changed(peer_tables).await;
    let proxied = by_upstream.len();
    Ok(section(&[probe, ours, peer], ours_changed, peer_changed, proxied))
}

fn ratio(peer: f64, ours: f64) -> String {
    if ours > 0.0 {
        format!("{:.1}×", peer / ours)
    } else {
        "–".to_owned()
    }
}

fn section(
    rows: &[Row; 3],
    ours_changed: (usize, usize),
    peer_changed: (usize, usize),
    proxied: usize,
) -> String {
    let [probe, ours, peer] = rows;
    let mut out = String::new();
    let commit = std::env::var("BENCH_COMMIT").unwrap_or_else(|_| "unknown".to_owned());
    let version = std::env::var("PEER_VERSION").unwrap_or_else(|_| "unknown".to_owned());
    let _ = writeln!(out, "{BEGIN}\n");
    let _ = writeln!(out, "## Ratio to a peer: Cloud Custodian\n");
    let _ = writeln!(
        out,
        "Written by `make bench-peer` (scripts/bench-peer.sh, tests/src/bin/bench/peer.rs, \
         tests/peer/); `make bench` keeps this section as it is.\n"
    );
    let _ = writeln!(out, "- Date: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(out, "- Commit: `{commit}`");
    let _ = writeln!(out, "- Peer: {version}, policy tests/peer/policy.yml\n");
    let _ = writeln!(
        out,
        "The peer is Cloud Custodian's Lambda handler (`c7n.handler.dispatch_event`, packaged \
         by Custodian's own packager: its `config.json` and `custodian_policy.py`) with a \
         `cloudtrail`-mode `dynamodb-table` policy whose `update` action raises the table's \
         write capacity from 5 to 10, started by a Python bootstrap of our own \
         (tests/peer/bootstrap.py, standard library only, the handler imported before the \
         first `GET /next` as Lambda's Python runtime does) under the same Runtime API \
         server as ours. {ROUNDS} rounds; each round makes two fresh 5/5 tables and starts \
         the probe, dynamodb-throttle (the release binary) on the throttled-PutItem CloudTrail \
         sample for one and Custodian on the same sample for the other, interleaved. Every \
         row's AWS calls go through counting proxies in front of the same emulators \
         ({proxied} endpoints), so calls are counted on the wire for all alike and every call \
         carries the same extra local hop. Times in ms; peak RSS is the highest of the row's \
         starts; calls are the median per start.\n"
    );
    let _ = writeln!(
        out,
        "| function | event | outcome | starts | init median | init p95 | first result median | p95 | CPU median | peak RSS MiB | calls | calls, in the order sent (last start) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let last = row.calls.last().map(|c| c.join(", ")).unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} |",
            row.name,
            row.event,
            row.outcome,
            row.starts.len(),
            ms(row.median(|s| s.init)),
            ms(row.p95(|s| s.init)),
            ms(row.median(|s| s.first_result)),
            ms(row.p95(|s| s.first_result)),
            ms(row.median(|s| s.cpu)),
            row.peak_rss_mib(),
            row.median_calls(),
            if last.is_empty() { "none".to_owned() } else { last }
        );
    }
    let _ = writeln!(
        out,
        "\nThe change, checked afterwards with DescribeTable on every table once ACTIVE again: \
         dynamodb-throttle raised the write capacity to {PEER_WRITE_CAPACITY} on {} of {} \
         tables, Cloud Custodian on {} of {}.\n",
        ours_changed.0, ours_changed.1, peer_changed.0, peer_changed.1
    );
    let secs = |d: Duration| d.as_secs_f64();
    let figures = [
        (
            "init (median)",
            secs(peer.median(|s| s.init)),
            secs(ours.median(|s| s.init)),
            "ms",
        ),
        (
            "first result (median)",
            secs(peer.median(|s| s.first_result)),
            secs(ours.median(|s| s.first_result)),
            "ms",
        ),
        (
            "CPU (median)",
            secs(peer.median(|s| s.cpu)),
            secs(ours.median(|s| s.cpu)),
            "ms",
        ),
        (
            "peak RSS (highest)",
            peer.peak_rss_mib(),
            ours.peak_rss_mib(),
            "MiB",
        ),
        (
            "AWS calls (median)",
            peer.median_calls() as f64,
            ours.median_calls() as f64,
            "",
        ),
    ];
    let _ = writeln!(
        out,
        "| figure | Cloud Custodian | dynamodb-throttle | Custodian ÷ ours |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for (name, theirs, ours, unit) in figures {
        let show = |v: f64| match unit {
            "ms" => format!("{:.1} ms", v * 1000.0),
            "MiB" => format!("{v:.1} MiB"),
            _ => format!("{v:.0}"),
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            show(theirs),
            show(ours),
            ratio(theirs, ours)
        );
    }
    let first =
        secs(peer.median(|s| s.first_result)) / secs(ours.median(|s| s.first_result)).max(f64::EPSILON);
    let _ = writeln!(
        out,
        "\n| target | figure | met |\n|---|---|---|\n| dynamodb-throttle first result ≥ 50× faster than the peer's (median) | {first:.1}× | {} |",
        if first >= 50.0 { "yes" } else { "**no**" }
    );
    let _ = writeln!(
        out,
        "\nThe probe's first result, for scale: {} ms.",
        ms(probe.median(|s| s.first_result))
    );
    let _ = writeln!(out, "\n{END}");
    out
}

/// The peer section of `existing`, markers included, if it has one.
pub fn section_of(existing: &str) -> Option<&str> {
    let begin = existing.find(BEGIN)?;
    let end = existing[begin..].find(END)? + begin + END.len();
    Some(&existing[begin..end])
}

/// `existing` with its peer section replaced by `section`, or `section` appended.
pub fn replace_section(existing: &str, section: &str) -> String {
    let section = section.trim_end();
    match section_of(existing) {
        Some(old) => existing.replacen(old, section, 1),
        None if existing.trim().is_empty() => format!("{section}\n"),
        None => format!("{}\n\n{section}\n", existing.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(body: &str) -> String {
        format!("{BEGIN}\n\n{body}\n\n{END}\n")
    }

    #[test]
    fn bench_peer_replaces_only_its_section() {
        let bench = "# Benchmarks\n\nfigures\n";
        let first = replace_section(bench, &section("old ratios"));
        assert!(first.starts_with(bench.trim_end()));
        let second = replace_section(&first, &section("new ratios"));
        assert!(second.starts_with(bench.trim_end()));
        assert!(second.contains("new ratios") && !second.contains("old ratios"));
        assert_eq!(second.matches(BEGIN).count(), 1);
    }

    #[test]
    fn bench_keeps_the_peer_section() {
        let before = replace_section("# Benchmarks\n\nold figures\n", &section("ratios"));
        let kept = section_of(&before).expect("a section");
        let after = replace_section("# Benchmarks\n\nnew figures\n", kept);
        assert!(after.contains("new figures") && !after.contains("old figures"));
        assert_eq!(section_of(&after), Some(kept));
    }

    #[test]
    fn operations_are_named_from_each_protocol() {
        let sts = b"Action=GetCallerIdentity&Version=2011-06-15";
        assert_eq!(operation("POST", "/", None, sts), "GetCallerIdentity");
        let target = Some("DynamoDB_20120810.UpdateTable");
        assert_eq!(operation("POST", "/", target, b"{}"), "UpdateTable");
        let cbor = "/service/GraniteServiceVersion20100801/operation/GetMetricData";
        assert_eq!(operation("POST", cbor, None, b""), "GetMetricData");
        assert_eq!(operation("PUT", "/bucket/key", None, b""), "PutObject");
    }
}
