//! The local HTTP servers `make bench` runs a function against, each on a free port:
//!
//! - [`cold_start`]: a minimal Lambda Runtime API (what a function's runtime client speaks:
//!   the next invocation, its response or error, an init error). It starts the function's
//!   binary as Lambda would, hands it one event and times the start: exec to the first
//!   `GET /next` (init), exec to the result, and the process's CPU and peak memory once it
//!   asks for the next event (idle, as a frozen Lambda container).
//! - [`Stub`]: answers the calls of the functions that no emulator serves: CloudWatch
//!   `GetMetricData` (the client's rpcv2 CBOR) with no data, and Service Quotas' reads (moto
//!   answers two of the three with a server error, which the SDK retries for seconds) with
//!   an adjustable quota and no requests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Serves `handle` on `listener` until the returned task is aborted, one task per connection.
fn serve<F, Fut>(listener: TcpListener, handle: F) -> JoinHandle<()>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let handle = handle.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let handle = handle.clone();
                    async move { Ok::<_, Infallible>(handle(request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

/// The endpoint of a bench run for CloudWatch and Service Quotas.
pub struct Stub {
    pub endpoint: String,
    server: JoinHandle<()>,
}

/// Stubbed: what `make bench` says it stubbed.
pub const STUBBED: [&str; 4] = [
    "CloudWatch GetMetricData (an empty page)",
    "Service Quotas GetServiceQuota (adjustable, 10,000)",
    "Service Quotas GetAWSDefaultServiceQuota (10,000)",
    "Service Quotas ListRequestedServiceQuotaChangeHistoryByQuota (none)",
];

impl Stub {
    /// Serves on `listener` (bound before the runtime started, so its port can be put into
    /// the environment first).
    pub fn serve(listener: std::net::TcpListener) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let listener = TcpListener::from_std(listener)?;
        let server = serve(listener, |request: Request<Incoming>| async move {
            let target = request
                .headers()
                .get("x-amz-target")
                .and_then(|target| target.to_str().ok())
                .map(|target| target.rsplit('.').next().unwrap_or_default().to_owned());
            match target.as_deref() {
                Some(operation) => service_quotas(operation, request).await,
                None => cloudwatch(request),
            }
        });
        Ok(Self { endpoint, server })
    }
}

fn cloudwatch(request: Request<Incoming>) -> Response<Full<Bytes>> {
    let operation = request.uri().path().rsplit('/').next().unwrap_or_default();
    if operation != "GetMetricData" {
        return respond(StatusCode::NOT_IMPLEMENTED, operation.to_owned());
    }
    // CBOR for `{}`: a map with no entries.
    let mut response = respond(StatusCode::OK, vec![0xa0_u8]);
    let headers = response.headers_mut();
    headers.insert("content-type", "application/cbor".parse().expect("header"));
    headers.insert("smithy-protocol", "rpc-v2-cbor".parse().expect("header"));
    response
}

async fn service_quotas(operation: &str, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let asked: Value = match request.into_body().collect().await {
        Ok(body) => serde_json::from_slice(&body.to_bytes()).unwrap_or_default(),
        Err(_) => Value::Null,
    };
    let quota = serde_json::json!({ "Quota": {
        "ServiceCode": asked["ServiceCode"], "QuotaCode": asked["QuotaCode"],
        "Value": 10000.0, "Adjustable": true, "GlobalQuota": false,
    }});
    let body = match operation {
        "GetServiceQuota" | "GetAWSDefaultServiceQuota" => quota,
        "ListRequestedServiceQuotaChangeHistoryByQuota" => serde_json::json!({ "RequestedQuotas": [] }),
        other => return respond(StatusCode::NOT_IMPLEMENTED, other.to_owned()),
    };
    let mut response = respond(StatusCode::OK, body.to_string());
    response.headers_mut().insert(
        "content-type",
        "application/x-amz-json-1.1".parse().expect("header"),
    );
    response
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One cold start, measured.
#[derive(Debug, Clone)]
pub struct Start {
    /// Exec to the function's first `GET /next`: everything before the handler can run.
    pub init: Duration,
    /// Exec to the function's result (response or error) for the event.
    pub first_result: Duration,
    /// The event handed over to the result posted: the handler's own time.
    pub handler: Duration,
    /// CPU time of the whole process, all threads, by the time it asked for the event after
    /// the first: the cold start alone, whatever warm events follow.
    pub cpu: Duration,
    /// Peak resident memory (VmHWM) by then, in KiB.
    pub peak_rss_kib: u64,
    /// The handler's result, or the error it posted.
    pub result: Result<Value, Value>,
    /// Each later event, in the same process (warm invocations): the handler's time and its
    /// result or error.
    pub warm: Vec<(Duration, Result<Value, Value>)>,
}

/// What the server saw of each invocation, in order.
#[derive(Default)]
struct Invocations {
    asked: Vec<Instant>,
    answered: Vec<(Instant, Result<Value, Value>)>,
    /// CPU time and peak memory when the function asked for its second event.
    after_first: Option<(Option<Duration>, Option<u64>)>,
}

/// The invocation's deadline, as template.yaml's function timeout gives it: the pipeline
/// refuses to start a change it may not have the time to finish.
const DEADLINE_MS: u128 = 240_000;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// Starts `binary` with exactly `env` (plus the Lambda variables a runtime reads), hands it
/// `events` one after the other and measures the start (the first) and the warm invocations
/// (the rest). The process is killed once it asks for one more.
pub async fn cold_start(
    binary: &Path,
    function: &str,
    env: &[(String, String)],
    events: &[Value],
) -> Result<Start, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("runtime API: {e}"))?;
    let address: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let state = Arc::new(Mutex::new(Invocations::default()));
    let idle = Arc::new(Notify::new());
    let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{function}");
    let bodies: Arc<Vec<Bytes>> = Arc::new(events.iter().map(|e| Bytes::from(e.to_string())).collect());
    // Set once the process is spawned, before it can ask for anything.
    let pid = Arc::new(AtomicU32::new(0));

    let server = {
        let (state, idle, pid) = (state.clone(), idle.clone(), pid.clone());
        serve(listener, move |request: Request<Incoming>| {
            let (state, idle, arn, bodies, pid) = (
                state.clone(),
                idle.clone(),
                arn.clone(),
                bodies.clone(),
                pid.clone(),
            );
            async move {
                let path = request.uri().path().to_owned();
                if path == NEXT {
                    let asked = {
                        let mut state = state.lock().expect("state");
                        state.asked.push(Instant::now());
                        state.asked.len()
                    };
                    if asked == 2 {
                        let pid = pid.load(Ordering::SeqCst);
                        let usage = (cpu_time(pid), peak_rss_kib(pid));
                        state.lock().expect("state").after_first = Some(usage);
                    }
                    let body = bodies.get(asked - 1).cloned();
                    let Some(body) = body else {
                        // The function is idle: measured, and never given another event.
                        idle.notify_one();
                        return std::future::pending().await;
                    };
                    let deadline = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_millis()
                        + DEADLINE_MS;
                    let mut response = respond(StatusCode::OK, body);
                    let headers = response.headers_mut();
                    for (name, value) in [
                        ("lambda-runtime-aws-request-id", "bench-request".to_owned()),
                        ("lambda-runtime-deadline-ms", deadline.to_string()),
                        ("lambda-runtime-invoked-function-arn", arn),
                        (
                            "lambda-runtime-trace-id",
                            "Root=1-00000000-000000000000000000000000".to_owned(),
                        ),
                        ("content-type", "application/json".to_owned()),
                    ] {
                        headers.insert(name, value.parse().expect("header"));
                    }
                    return response;
                }
                let error = path.ends_with("/error");
                let posted = request
                    .into_body()
                    .collect()
                    .await
                    .map(|body| body.to_bytes())
                    .unwrap_or_default();
                let at = Instant::now();
                let value = serde_json::from_slice(&posted)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&posted).into()));
                let result = if error { Err(value) } else { Ok(value) };
                state.lock().expect("state").answered.push((at, result));
                if path.contains("/init/error") {
                    idle.notify_one();
                }
                respond(StatusCode::ACCEPTED, "")
            }
        })
    };

    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", address.to_string().as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    pid.store(child.id(), Ordering::SeqCst);

    let waited = tokio::time::timeout(Duration::from_secs(60), idle.notified()).await;
    // A process that never asked twice (an init error) is measured as it stopped.
    let pid = pid.load(Ordering::SeqCst);
    let at_the_end = (cpu_time(pid), peak_rss_kib(pid));
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    if waited.is_err() {
        return Err(format!("{function}: no result within 60 s"));
    }

    let mut state = state.lock().expect("state");
    let asked = *state
        .asked
        .first()
        .ok_or_else(|| format!("{function}: never asked for an event"))?;
    if state.answered.len() < events.len() {
        return Err(format!(
            "{function}: posted {} results for {} events",
            state.answered.len(),
            events.len()
        ));
    }
    let warm = (1..events.len())
        .map(|n| {
            let (answered, result) = &state.answered[n];
            (answered.duration_since(state.asked[n]), result.clone())
        })
        .collect();
    let usage = state.after_first.unwrap_or(at_the_end);
    let (answered, result) = state.answered.swap_remove(0);
    Ok(Start {
        warm,
        init: asked.duration_since(started),
        first_result: answered.duration_since(started),
        handler: answered.duration_since(asked),
        cpu: usage
            .0
            .ok_or_else(|| format!("{function}: no CPU time in /proc/{pid}"))?,
        peak_rss_kib: usage
            .1
            .ok_or_else(|| format!("{function}: no VmHWM in /proc/{pid}"))?,
        result,
    })
}

/// CPU time of every thread of `pid` (the first field of each task's schedstat, in ns).
fn cpu_time(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0_u64;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
