//! Building the SDK configuration once per process, and capturing raw responses for snapshots.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::core::diagnosis::Diagnosis;
use crate::core::domain::ResourceRef;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::ports::{Announce, Apply, Describe, Described, Diagnose, Measure, Snapshots};
use crate::core::service::Service;

/// The longest one SDK operation may take, retries included: what the pipeline budgets for
/// each step it starts (`RunOptions::step_budget`).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// Loads region, credentials and endpoints (including `AWS_ENDPOINT_URL_<SERVICE>`) the
/// SDK's usual way, with bounded retries and timeouts so a call can never outlive the
/// function: at most 3 attempts of 5 s each (2 s to connect, 4 s without a byte read),
/// within `OPERATION_TIMEOUT`. Adaptive retries slow the function's own calls down when AWS
/// throttles it, rather than adding to the storm. Every client built from it shares one
/// [`https_client`].
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(RetryConfig::adaptive().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .read_timeout(Duration::from_secs(4))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

/// The SDK's default HTTPS client (hyper 1, rustls, proxies from `HTTPS_PROXY` / `NO_PROXY`)
/// with two differences, both measured (docs/performance.md):
/// - rustls runs on ring rather than aws-lc, a smaller crypto library in each bootstrap and
///   no C build; what is given up is aws-lc's post-quantum hybrid key exchange (AWS
///   endpoints then agree on X25519);
/// - the trust store and TLS settings are built when the first request needs them, once for
///   every client that shares this one. The SDK's own client builds them for each client as
///   it is constructed, reading and parsing every root certificate of the system again: that
///   was most of the functions' init (without the roots, 13.3 ms of CPU fell to 6.9).
pub fn https_client() -> SharedHttpClient {
    let client = Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    SharedHttpClient::new(TlsOnFirstRequest(client))
}

/// The wrapped client without its start-up check, whose only work is to build a connector
/// (and so the trust store) ahead of the first request, for every client constructed.
#[derive(Debug)]
struct TlsOnFirstRequest(SharedHttpClient);

impl HttpClient for TlsOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// A port's SDK adapter, built the first time an event needs it and then kept for the life
/// of the execution environment. Init then builds only the clients every event uses (the
/// ledger's): a duplicate or a cooldown never builds the service's clients, nor the snapshot
/// bucket's or the bus's, and a remediation builds them once.
pub struct OnFirstUse<T> {
    built: OnceLock<T>,
    build: Box<dyn Fn() -> T + Send + Sync>,
}

impl<T> OnFirstUse<T> {
    pub fn new(build: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self {
            built: OnceLock::new(),
            build: Box::new(build),
        }
    }

    /// Built by `build` from (a clone of) `sdk` on its first use.
    pub fn from_sdk(sdk: &SdkConfig, build: impl Fn(&SdkConfig) -> T + Send + Sync + 'static) -> Self {
        let sdk = sdk.clone();
        Self::new(move || build(&sdk))
    }

    pub fn get(&self) -> &T {
        self.built.get_or_init(|| (self.build)())
    }

    /// Whether a first use has built it yet.
    pub fn is_built(&self) -> bool {
        self.built.get().is_some()
    }
}

impl<T> fmt::Debug for OnFirstUse<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnFirstUse")
            .field("built", &self.is_built())
            .finish()
    }
}

impl<S: Service, T: Describe<S>> Describe<S> for OnFirstUse<T> {
    fn describe(&self, resource: &ResourceRef) -> impl Future<Output = Result<Described<S::State>>> + Send {
        self.get().describe(resource)
    }
}

impl<S: Service, T: Diagnose<S>> Diagnose<S> for OnFirstUse<T> {
    fn diagnose(
        &self,
        target: &S::Target,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Diagnosis<S::Evidence>> + Send {
        self.get().diagnose(target, now)
    }
}

impl<S: Service, T: Measure<S>> Measure<S> for OnFirstUse<T> {
    fn measure(
        &self,
        name: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<S::Evidence>> + Send {
        self.get().measure(name, since, until)
    }
}

impl<S: Service, T: Apply<S>> Apply<S> for OnFirstUse<T> {
    fn apply(&self, state: &S::State, change: &S::Change) -> impl Future<Output = Result<()>> + Send {
        self.get().apply(state, change)
    }
}

impl<T: Snapshots> Snapshots for OnFirstUse<T> {
    fn put(&self, key: &str, body: Vec<u8>) -> impl Future<Output = Result<String>> + Send {
        self.get().put(key, body)
    }
}

impl<T: Announce> Announce for OnFirstUse<T> {
    fn announce(&self, detail_type: &str, detail: &Value) -> impl Future<Output = Result<()>> + Send {
        self.get().announce(detail_type, detail)
    }
}

/// Keeps the body of the response an operation received, so a snapshot holds exactly what
/// AWS returned, every field included, rather than what our types know about.
/// Attach one per call with `.customize().interceptor(capture.clone())`.
#[derive(Debug, Clone, Default)]
pub struct CaptureResponse(Arc<Mutex<Option<Vec<u8>>>>);

impl CaptureResponse {
    /// The captured body as JSON (DynamoDB and Kinesis speak JSON protocols): a snapshot
    /// needs it, so its absence fails the `operation` on `resource`.
    pub fn json(&self, operation: &str, resource: &str) -> Result<Value> {
        let body = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        body.as_deref()
            .and_then(|bytes| serde_json::from_slice(bytes).ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Invalid,
                    operation,
                    resource,
                    "the response body was not JSON, so no snapshot can be made",
                )
            })
    }
}

impl Intercept for CaptureResponse {
    fn name(&self) -> &'static str {
        "CaptureResponse"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.response().body().bytes() {
            *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(bytes.to_vec());
        }
        Ok(())
    }
}
