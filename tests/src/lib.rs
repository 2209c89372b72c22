//! Fixtures for unthrottle's integration tests and the demo: real SDK clients pointed at
//! the emulators `make emulators-up` starts (their endpoints come from the standard
//! `AWS_ENDPOINT_URL_<SERVICE>` variables, which `make test` loads from `.emulators.env`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, TableDescription, TableStatus, Tag,
};
use serde_json::Value;

/// Real clients for the emulated services.
#[derive(Clone)]
pub struct Emulators {
    pub sdk: SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Emulators {
    /// Connects to the running emulators, or says how to start them.
    pub async fn connect() -> Result<Self, String> {
        for variable in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"] {
            if !std::env::var(variable).is_ok_and(|v| v.starts_with("http://127.0.0.1")) {
                return Err(format!(
                    "{variable} does not point at a local emulator: use `make test` / `make demo`, \
                     or `make emulators-up` and then `set -a; . ./.emulators.env; set +a` first"
                ));
            }
        }
        let sdk = unthrottle::aws::load_sdk_config().await;
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build();
        Ok(Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            s3: aws_sdk_s3::Client::from_conf(s3),
            sdk,
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
        self.dynamodb
            .create_table()
            .table_name(name)
            .attribute_definitions(attribute("pk"))
            .attribute_definitions(attribute("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
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
        self.dynamodb
            .scan()
            .table_name(table)
            .send()
            .await
            .expect("Scan")
            .items
            .unwrap_or_default()
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

/// A sample event from `events/`, with the sample resource name replaced (tests run in
/// parallel against shared emulators, so each uses its own tables).
pub fn sample_event(path: &str, sample_name: &str, name: &str) -> Value {
    let file = events_dir().join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text.replace(sample_name, name))
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}
