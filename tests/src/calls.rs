//! Counting AWS calls, not estimating them: an HTTP client around the SDK's own that records
//! each request's operation and when it started and ended. Every client built from the
//! recorded `SdkConfig` goes through it, the function's adapters included.
//!
//! The sequential round trips of a run are its critical path: the longest chain of calls in
//! which each starts only after the one before it has ended. Calls sent beside each other
//! (`tokio::join!`) overlap and add one link, not two.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// One AWS call as it went over the wire.
#[derive(Debug, Clone)]
pub struct Call {
    /// The operation, e.g. `DescribeTable`, `GetMetricData`, `PutObject`.
    pub operation: String,
    pub started: Instant,
    pub ended: Instant,
}

/// The calls made through one recorded `SdkConfig`, in the order they ended.
#[derive(Clone, Default)]
pub struct CallRecorder(Arc<Mutex<Vec<Call>>>);

impl fmt::Debug for CallRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CallRecorder").field(&self.calls().len()).finish()
    }
}

impl CallRecorder {
    /// `sdk` with every request recorded here, sent through its own HTTP client or, where
    /// it names none, the one the functions build theirs with.
    pub fn record(&self, sdk: &SdkConfig) -> SdkConfig {
        let inner = sdk
            .http_client()
            .unwrap_or_else(unthrottle::adapters::clients::https_client);
        sdk.to_builder()
            .http_client(SharedHttpClient::new(Recording {
                inner,
                calls: self.clone(),
            }))
            .build()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Call>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Everything recorded so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().clone()
    }

    /// Everything recorded so far, forgotten: what a test set up is not what it measures.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.lock())
    }
}

/// The operations in the order they started.
pub fn operations(calls: &[Call]) -> Vec<&str> {
    let mut sorted: Vec<&Call> = calls.iter().collect();
    sorted.sort_by_key(|call| call.started);
    sorted.iter().map(|call| call.operation.as_str()).collect()
}

/// The longest chain of calls each of which started after the one before it ended: the
/// sequential round trips, by operation, in order.
pub fn critical_path(calls: &[Call]) -> Vec<&str> {
    let mut sorted: Vec<&Call> = calls.iter().collect();
    sorted.sort_by_key(|call| call.started);
    // For each call, the length of the longest chain ending with it and the call before it.
    let mut chain: Vec<(usize, Option<usize>)> = Vec::with_capacity(sorted.len());
    for (i, call) in sorted.iter().enumerate() {
        let before = (0..i)
            .filter(|&j| sorted[j].ended <= call.started)
            .max_by_key(|&j| chain[j].0);
        chain.push((before.map_or(0, |j| chain[j].0) + 1, before));
    }
    let mut path = Vec::new();
    let mut at = (0..sorted.len()).max_by_key(|&i| chain[i].0);
    while let Some(i) = at {
        path.push(sorted[i].operation.as_str());
        at = chain[i].1;
    }
    path.reverse();
    path
}

/// How many calls are on the critical path.
pub fn sequential_round_trips(calls: &[Call]) -> usize {
    critical_path(calls).len()
}

/// Whether two recorded calls were in flight at the same time.
pub fn overlapped(a: &Call, b: &Call) -> bool {
    a.started < b.ended && b.started < a.ended
}

#[derive(Debug)]
struct Recording {
    inner: SharedHttpClient,
    calls: CallRecorder,
}

impl HttpClient for Recording {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RecordingConnector {
            inner: self.inner.http_connector(settings, components),
            calls: self.calls.clone(),
        })
    }
}

#[derive(Debug)]
struct RecordingConnector {
    inner: SharedHttpConnector,
    calls: CallRecorder,
}

impl HttpConnector for RecordingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = operation_of(&request);
        let calls = self.calls.clone();
        let started = Instant::now();
        let response = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let response = response.await;
            calls.lock().push(Call {
                operation,
                started,
                ended: Instant::now(),
            });
            response
        })
    }
}

/// The operation a request calls: the `X-Amz-Target` of the JSON protocols (DynamoDB,
/// Kinesis, Application Auto Scaling, EventBridge), the path of rpcv2 CBOR (CloudWatch), and
/// for S3's REST protocol a listing (`list-type=2`) or the object operation its method names.
fn operation_of(request: &HttpRequest) -> String {
    if let Some(target) = request.headers().get("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let uri = request.uri();
    if let Some((_, operation)) = uri.split_once("/operation/") {
        return operation.split(['?', '/']).next().unwrap_or(operation).to_owned();
    }
    let listing = uri
        .split_once('?')
        .is_some_and(|(_, query)| query.split('&').any(|pair| pair == "list-type=2"));
    match request.method() {
        "GET" if listing => "ListObjectsV2".to_owned(),
        "PUT" => "PutObject".to_owned(),
        "GET" => "GetObject".to_owned(),
        "HEAD" => "HeadObject".to_owned(),
        "DELETE" => "DeleteObject".to_owned(),
        other => format!("{other} {uri}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn call(operation: &str, start_ms: u64, end_ms: u64, zero: Instant) -> Call {
        Call {
            operation: operation.into(),
            started: zero + Duration::from_millis(start_ms),
            ended: zero + Duration::from_millis(end_ms),
        }
    }

    #[test]
    fn calls_beside_each_other_are_one_round_trip_and_calls_in_turn_are_one_each() {
        let zero = Instant::now();
        let calls = [
            call("Query", 0, 2, zero),
            call("DescribeTable", 3, 6, zero),
            call("GetMetricData", 3, 8, zero),
            call("ListTagsOfResource", 7, 9, zero),
            call("PutItem", 10, 12, zero),
        ];
        // Query -> DescribeTable -> ListTags -> PutItem; GetMetricData rides beside them.
        assert_eq!(
            critical_path(&calls),
            ["Query", "DescribeTable", "ListTagsOfResource", "PutItem"]
        );
        assert_eq!(sequential_round_trips(&calls), 4);
        assert!(overlapped(&calls[1], &calls[2]));
        assert!(!overlapped(&calls[0], &calls[1]));
        assert_eq!(sequential_round_trips(&calls[..1]), 1);
        assert_eq!(sequential_round_trips(&[]), 0);
        assert_eq!(
            operations(&calls),
            [
                "Query",
                "DescribeTable",
                "GetMetricData",
                "ListTagsOfResource",
                "PutItem"
            ]
        );
    }

    #[test]
    fn an_s3_listing_is_told_from_an_object_read() {
        let request = |method: &str, uri: &str| {
            let mut request = HttpRequest::empty();
            request.set_uri(uri).expect("a URI");
            request.set_method(method).expect("a method");
            request
        };
        let named = |method, uri| operation_of(&request(method, uri));
        assert_eq!(
            named("GET", "http://127.0.0.1:1/snaps?list-type=2&prefix=dynamodb%2F"),
            "ListObjectsV2"
        );
        assert_eq!(
            named("GET", "http://127.0.0.1:1/snaps/dynamodb/a/b.json"),
            "GetObject"
        );
        assert_eq!(
            named("GET", "http://127.0.0.1:1/snaps/key?x-id=GetObject"),
            "GetObject"
        );
        assert_eq!(
            named("PUT", "http://127.0.0.1:1/snaps/dynamodb/a/b.json"),
            "PutObject"
        );
    }
}
