//! Fixtures for unthrottle's integration tests and the demo: real SDK clients pointed at
//! the emulators `make emulators-up` starts (their endpoints come from the standard
//! `AWS_ENDPOINT_URL_<SERVICE>` variables, which `make test` loads from `.emulators.env`).

pub mod calls;
pub mod mocks;
pub mod servers;
pub mod template;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, TableDescription, TableStatus, Tag,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use unthrottle::adapters::Deploy;
use unthrottle::adapters::events::EventBridgeBus;
use unthrottle::adapters::ledger::DynamoDbLedger;
use unthrottle::adapters::snapshots::S3Snapshots;
use unthrottle::core::config::{CoreSettings, Env};
use unthrottle::core::pipeline::Pipeline;
use unthrottle::core::report::Report;
use unthrottle::testing::RecordedMetrics;

/// Real clients for the emulated services.
#[derive(Clone)]
pub struct Emulators {
    pub sdk: SdkConfig,
    /// Every AWS call made through `sdk`, the function's adapters' included.
    pub calls: calls::CallRecorder,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub kinesis: aws_sdk_kinesis::Client,
    pub s3: aws_sdk_s3::Client,
    /// Application Auto Scaling, on moto.
    pub scaling: aws_sdk_applicationautoscaling::Client,
}

impl Emulators {
    /// Connects to the running emulators, or says how to start them.
    pub async fn connect() -> Result<Self, String> {
        for variable in [
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL_KINESIS",
            // Never reached on AWS: the table adapter reads metrics and auto scaling too.
            "AWS_ENDPOINT_URL_CLOUDWATCH",
            "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING",
            // api-throttle reads quotas: never from the real Service Quotas in a test.
            "AWS_ENDPOINT_URL_SERVICE_QUOTAS",
            // and SSM's throughput setting: never the real one either.
            "AWS_ENDPOINT_URL_SSM",
        ] {
            if !std::env::var(variable).is_ok_and(|v| v.starts_with("http://127.0.0.1")) {
                return Err(format!(
                    "{variable} does not point at a local emulator: use `make test` / `make demo`, \
                     or `make emulators-up` and then `set -a; . ./.emulators.env; set +a` first"
                ));
            }
        }
        let calls = calls::CallRecorder::default();
        let sdk = calls.record(&unthrottle::adapters::clients::load_sdk_config().await);
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build();
        Ok(Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            kinesis: aws_sdk_kinesis::Client::new(&sdk),
            s3: aws_sdk_s3::Client::from_conf(s3),
            scaling: aws_sdk_applicationautoscaling::Client::new(&sdk),
            sdk,
            calls,
        })
    }

    /// A provisioned table keyed `id` with optional GSIs (each keyed `gsi_key`), ACTIVE.
    pub async fn create_table(&self, name: &str, read: i64, write: i64, gsis: &[(&str, i64, i64)]) {
        let mut request = self
            .dynamodb
            .create_table()
            .table_name(name)
            .attribute_definitions(attribute("id"))
            .key_schema(key("id", KeyType::Hash))
            .provisioned_throughput(throughput(read, write));
        if !gsis.is_empty() {
            request = request.attribute_definitions(attribute("gsi_key"));
        }
        for (gsi, read, write) in gsis {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(*gsi)
                    .key_schema(key("gsi_key", KeyType::Hash))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .provisioned_throughput(throughput(*read, *write))
                    .build()
                    .expect("complete GSI"),
            );
        }
        request.send().await.expect("CreateTable");
        self.wait_active(name).await;
    }

    /// An on-demand table keyed `id`, ACTIVE.
    pub async fn create_on_demand_table(&self, name: &str) {
        self.dynamodb
            .create_table()
            .table_name(name)
            .attribute_definitions(attribute("id"))
            .key_schema(key("id", KeyType::Hash))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("CreateTable");
        self.wait_active(name).await;
    }

    /// The ledger table as template.yaml declares it: `pk`/`sk` strings, on-demand.
    pub async fn create_ledger(&self, name: &str) {
        create_ledger_on(&self.dynamodb, name)
            .await
            .expect("CreateTable (ledger)");
        self.wait_active(name).await;
    }

    pub async fn create_bucket(&self, name: &str) {
        self.s3
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("CreateBucket");
    }

    pub async fn tag(&self, table: &str, key: &str, value: &str) {
        let arn = self.describe(table).await.table_arn().expect("ARN").to_owned();
        self.dynamodb
            .tag_resource()
            .resource_arn(arn)
            .tags(Tag::builder().key(key).value(value).build().expect("tag"))
            .send()
            .await
            .expect("TagResource");
    }

    pub async fn describe(&self, table: &str) -> TableDescription {
        self.dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("DescribeTable")
            .table
            .expect("a table")
    }

    /// Polls until the table and its GSIs are ACTIVE (the emulator delays state changes).
    pub async fn wait_active(&self, table: &str) -> TableDescription {
        for _ in 0..200 {
            let description = self.describe(table).await;
            let gsis_active = description
                .global_secondary_indexes()
                .iter()
                .all(|gsi| gsi.index_status().is_some_and(|s| s.as_str() == "ACTIVE"));
            if description.table_status() == Some(&TableStatus::Active) && gsis_active {
                return description;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{table} did not become ACTIVE within 10 s");
    }

    /// Every item in a table (the ledger), as the emulator holds it.
    pub async fn items(
        &self,
        table: &str,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        // Every page, read consistently: a count that misses a page proves nothing.
        self.dynamodb
            .scan()
            .table_name(table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .expect("Scan")
    }

    /// Keys of every object in a bucket.
    pub async fn object_keys(&self, bucket: &str) -> Vec<String> {
        self.s3
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .expect("ListObjectsV2")
            .contents()
            .iter()
            .filter_map(|object| object.key().map(str::to_owned))
            .collect()
    }

    pub async fn object_json(&self, bucket: &str, key: &str) -> Value {
        let object = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("GetObject");
        let bytes = object.body.collect().await.expect("object body").into_bytes();
        serde_json::from_slice(&bytes).expect("snapshot is JSON")
    }
}

/// A fresh ledger table and snapshot bucket: the stores every pipeline writes to.
pub struct Stores {
    pub ledger: String,
    pub bucket: String,
}

impl Stores {
    /// The function's environment: these stores plus `settings` (name, value) pairs.
    pub fn env(&self, settings: &[(&str, &str)]) -> HashMap<String, String> {
        let mut env = HashMap::from([
            ("SNAPSHOT_BUCKET".to_owned(), self.bucket.clone()),
            ("LEDGER_TABLE".to_owned(), self.ledger.clone()),
        ]);
        env.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }
}

impl Emulators {
    pub async fn stores(&self) -> Stores {
        let stores = Stores {
            ledger: unique("ledger"),
            bucket: unique("snaps"),
        };
        self.create_ledger(&stores.ledger).await;
        self.create_bucket(&stores.bucket).await;
        stores
    }

    pub fn ledger(&self, table: &str) -> DynamoDbLedger {
        DynamoDbLedger::new(self.dynamodb.clone(), table)
    }

    /// A fresh ledger table `name` on moto instead of dynalite, and the ledger on it. moto's
    /// DynamoDB returns the item with a refused condition (`ReturnValuesOnConditionCheckFailure`)
    /// as DynamoDB does, where dynalite 4.0.0 returns none; its calls are recorded with the rest.
    pub async fn ledger_on_moto(&self, name: &str) -> Result<DynamoDbLedger, String> {
        let moto = std::env::var("UNTHROTTLE_MOTO_ENDPOINT")
            .ok()
            .filter(|url| url.starts_with("http://127.0.0.1"))
            .ok_or(
                "UNTHROTTLE_MOTO_ENDPOINT does not point at a local moto (an environment loaded \
                 before the emulators script named it?): run `make emulators-up`, then \
                 `set -a; . ./.emulators.env; set +a`",
            )?;
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .endpoint_url(moto)
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        // moto's tables are ACTIVE at once: nothing to wait for.
        create_ledger_on(&client, name)
            .await
            .map_err(|e| format!("CreateTable (ledger on moto): {}", DisplayErrorContext(&e)))?;
        Ok(DynamoDbLedger::new(client, name))
    }

    pub fn snapshots(&self, bucket: &str) -> S3Snapshots {
        S3Snapshots::new(self.s3.clone(), bucket)
    }

    /// Asserts that nothing was written: no ledger items, no snapshot objects.
    /// No snapshot, and nothing held or recorded in the ledger: at most a resource's item
    /// whose lease was taken and given back (its keys and TTL, nothing else).
    pub async fn assert_nothing_written(&self, stores: &Stores) {
        self.assert_ledger_holds_nothing(stores).await;
        assert_eq!(
            self.object_keys(&stores.bucket).await,
            Vec::<String>::new(),
            "no snapshot"
        );
    }
}

impl Emulators {
    /// Every ledger item holds its keys and TTL and nothing else: a lease taken and given
    /// back, no claim, change or refusal.
    pub async fn assert_ledger_holds_nothing(&self, stores: &Stores) {
        for item in self.items(&stores.ledger).await {
            let mut kept: Vec<&String> = item.keys().collect();
            kept.sort();
            assert_eq!(kept, ["expires_at", "pk", "sk"], "ledger holds nothing: {item:?}");
        }
    }
}

/// The pipeline as deployed (the service's SDK adapter, the ledger and snapshots in the
/// emulators), with metrics recorded in memory so tests can assert them.
pub type Deployed<S> =
    Pipeline<S, <S as Deploy>::Resources, DynamoDbLedger, S3Snapshots, RecordedMetrics, EventBridgeBus>;

/// One test's world: its own ledger, bucket and resource name, and one service's function
/// deployed against them. Tests run in parallel, each in its own world.
pub struct World<S: Deploy> {
    pub aws: Emulators,
    /// The test's own resource, standing in for the sample's.
    pub name: String,
    pub stores: Stores,
    pub pipeline: Deployed<S>,
    /// The events/ folder of this service's samples, and the resource name they use.
    samples: (&'static str, &'static str),
}

impl<S: Deploy> World<S> {
    /// The function configured from its environment (these stores plus `settings`), as
    /// `unthrottle::run` configures it.
    pub async fn new(samples: (&'static str, &'static str), settings: &[(&str, &str)]) -> Self {
        let aws = Emulators::connect().await.expect("emulators running");
        let stores = aws.stores().await;
        let vars = stores.env(settings);
        let env = Env::from_fn(|key| vars.get(key).cloned());
        let core = CoreSettings::from_env(&env).expect("valid core settings");
        let service = S::from_env(&env).expect("valid service settings");
        let pipeline = Pipeline {
            resources: service.resources(&aws.sdk, &core),
            service,
            ledger: aws.ledger(&stores.ledger),
            snapshots: aws.snapshots(&stores.bucket),
            metrics: RecordedMetrics::default(),
            bus: EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&aws.sdk)),
            options: core.run,
        };
        Self {
            name: unique(samples.1),
            aws,
            stores,
            pipeline,
            samples,
        }
    }

    /// A sample event of this service, naming this world's resource, as if its throttle
    /// happened just now (the samples are dated; a late event is one the test makes so).
    pub fn event(&self, sample: &str) -> Value {
        self.event_at(sample, Utc::now())
    }

    /// A sample event of this service, naming this world's resource, its throttle at `time`.
    pub fn event_at(&self, sample: &str, time: DateTime<Utc>) -> Value {
        let event = sample_event(
            &format!("{}/{sample}", self.samples.0),
            self.samples.1,
            &self.name,
        );
        unthrottle::testing::happened_at(event, time)
    }

    /// Runs one event that names one resource and returns its report.
    pub async fn run(&self, event: Value, now: DateTime<Utc>) -> Report {
        let mut reports = self.pipeline.handle(event, now).await.expect("readable event");
        assert_eq!(reports.len(), 1, "{reports:?}");
        reports.remove(0)
    }

    pub async fn assert_nothing_written(&self) {
        self.aws.assert_nothing_written(&self.stores).await;
    }

    /// Nothing held or recorded in the ledger (snapshots aside: a failed change may have
    /// stored its own).
    pub async fn assert_nothing_recorded(&self) {
        self.aws.assert_ledger_holds_nothing(&self.stores).await;
    }

    /// This world's resource, in the samples' account and region.
    pub fn resource(&self) -> unthrottle::core::domain::ResourceRef {
        unthrottle::core::domain::ResourceRef {
            service: S::ID,
            account: "123456789012".into(),
            region: "us-east-1".into(),
            name: self.name.clone(),
        }
    }
}

impl Emulators {
    /// Registers the table's write capacity with Application Auto Scaling (moto) between
    /// `min` and `max`.
    pub async fn auto_scale_writes(&self, table: &str, min: i32, max: i32) {
        use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
        self.scaling
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Dynamodb)
            .resource_id(format!("table/{table}"))
            .scalable_dimension(ScalableDimension::DynamoDbTableWriteCapacityUnits)
            .min_capacity(min)
            .max_capacity(max)
            .send()
            .await
            .expect("RegisterScalableTarget on moto");
    }

    /// The table's auto-scaling bounds, `(min, max)` per registered side.
    pub async fn scaling_bounds(&self, table: &str) -> Vec<(i32, i32)> {
        use aws_sdk_applicationautoscaling::types::ServiceNamespace;
        self.scaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Dynamodb)
            .resource_ids(format!("table/{table}"))
            .send()
            .await
            .expect("DescribeScalableTargets")
            .scalable_targets()
            .iter()
            .map(|target| (target.min_capacity(), target.max_capacity()))
            .collect()
    }
}

/// A Kinesis stream as the tests see it once it is ACTIVE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamView {
    pub open_shards: i32,
    pub on_demand: bool,
}

impl Emulators {
    /// A provisioned stream with `shards` shards, ACTIVE.
    pub async fn create_stream(&self, name: &str, shards: i32) {
        self.kinesis
            .create_stream()
            .stream_name(name)
            .shard_count(shards)
            .send()
            .await
            .expect("CreateStream");
        self.wait_stream_active(name).await;
    }

    /// An on-demand stream, ACTIVE.
    pub async fn create_on_demand_stream(&self, name: &str) {
        use aws_sdk_kinesis::types::{StreamMode, StreamModeDetails};
        self.kinesis
            .create_stream()
            .stream_name(name)
            .stream_mode_details(
                StreamModeDetails::builder()
                    .stream_mode(StreamMode::OnDemand)
                    .build()
                    .expect("mode"),
            )
            .send()
            .await
            .expect("CreateStream (on-demand)");
        self.wait_stream_active(name).await;
    }

    pub async fn tag_stream(&self, name: &str, key: &str, value: &str) {
        self.kinesis
            .add_tags_to_stream()
            .stream_name(name)
            .tags(key, value)
            .send()
            .await
            .expect("AddTagsToStream");
    }

    /// Polls until the stream is ACTIVE (kinesis-local delays state changes), then reads it.
    pub async fn wait_stream_active(&self, name: &str) -> StreamView {
        use aws_sdk_kinesis::types::{StreamMode, StreamStatus};
        for _ in 0..200 {
            let summary = self
                .kinesis
                .describe_stream_summary()
                .stream_name(name)
                .send()
                .await
                .expect("DescribeStreamSummary")
                .stream_description_summary
                .expect("a summary");
            if summary.stream_status() == &StreamStatus::Active {
                return StreamView {
                    open_shards: summary.open_shard_count(),
                    on_demand: summary.stream_mode_details().map(|d| d.stream_mode())
                        == Some(&StreamMode::OnDemand),
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("stream {name} did not become ACTIVE within 10 s");
    }
}

/// Creates the ledger table `name` as template.yaml declares it, through `client`.
async fn create_ledger_on(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<
    aws_sdk_dynamodb::operation::create_table::CreateTableOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::create_table::CreateTableError>,
> {
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
}

fn attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("complete attribute")
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("complete key")
}

pub fn throughput(read: i64, write: i64) -> ProvisionedThroughput {
    ProvisionedThroughput::builder()
        .read_capacity_units(read)
        .write_capacity_units(write)
        .build()
        .expect("complete throughput")
}

/// A name no other test (or earlier run against the same emulators) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The repository's `events/` folder.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("events")
}

/// The one table of what each sample in events/ means, beside the samples.
pub const EXPECTED_OUTCOMES: &str = "expected.json";

/// events/expected.json: the path of each sample under events/ -> its expected outcome
/// (`routes`: the functions the template's rules deliver it to; `reads`: per function, what
/// its trigger makes of it, e.g. `orders:w` or `skip:not-throttle`).
pub fn expected_outcomes() -> serde_json::Map<String, Value> {
    let path = events_dir().join(EXPECTED_OUTCOMES);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(table)) => table,
        Ok(_) => panic!(
            "{}: must be an object keyed by each sample's path under events/",
            path.display()
        ),
        Err(e) => panic!("{} is not JSON: {e}", path.display()),
    }
}

/// The samples in `events/{folder}/` that `function` skips, per events/expected.json, with the
/// skip code: `("alarm-ok-state.json", "not-throttle")`.
pub fn expected_skips(folder: &str, function: &str) -> Vec<(String, String)> {
    let prefix = format!("{folder}/");
    let skips: Vec<(String, String)> = expected_outcomes()
        .iter()
        .filter_map(|(path, outcome)| {
            let sample = path.strip_prefix(&prefix)?;
            let code = outcome["reads"][function].as_str()?.strip_prefix("skip:")?;
            Some((sample.to_owned(), code.to_owned()))
        })
        .collect();
    assert!(
        !skips.is_empty(),
        "events/{EXPECTED_OUTCOMES} lists no {folder}/ sample that {function} skips"
    );
    skips
}

/// A sample event from `events/`, with the sample resource name replaced (tests run in
/// parallel against shared emulators, so each uses its own tables).
pub fn sample_event(path: &str, sample_name: &str, name: &str) -> Value {
    let file = events_dir().join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text.replace(sample_name, name))
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A sample event from `events/`, exactly as written.
pub fn sample(path: &str) -> Value {
    let file = events_dir().join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}
