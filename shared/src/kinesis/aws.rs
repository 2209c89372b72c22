//! The Kinesis adapter: DescribeStreamSummary, ListShards, ListTagsForStream,
//! DescribeLimits, UpdateShardCount, SplitShard and UpdateStreamMode through aws-sdk-kinesis. Nothing is defaulted: a
//! response that lacks what the planner needs is an error.

use std::collections::HashMap;

use crate::core::config::CoreSettings;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::{
    ScalingType, ShardFilter, ShardFilterType, StreamMode as AwsStreamMode, StreamModeDetails,
};
use serde_json::{Value, json};
use std::time::Duration;
use tracing::warn;

use super::metrics;
use super::model::{
    AccountShards, Shard, StreamChange, StreamMetrics, StreamMode, StreamState, StreamTarget,
};
use super::settings::Kinesis;
use crate::adapters::Deploy;
use crate::adapters::clients::CaptureResponse;
use crate::adapters::errors::{classify, classify_with};
use crate::adapters::kept::{Kept, TAGS_TTL};
use crate::core::diagnosis::Diagnosis;
use crate::core::domain::{ResourceRef, Status};
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::ports::{Apply, Describe, Described, Diagnose};

const DESCRIBE: &str = "DescribeStreamSummary";
/// Kinesis's describe and list calls answer their per-account request rates (5 to 20 per
/// second) with `LimitExceededException`: a throttle there, a refusal on UpdateShardCount.
const RATE_LIMIT: &[&str] = &["LimitExceededException"];

pub struct SdkStreams {
    client: Client,
    metrics: aws_sdk_cloudwatch::Client,
    /// The account's shard figures, kept for [`ACCOUNT_SHARDS_TTL`] per container.
    account: Kept<(), AccountShards>,
    /// Tags per stream name (the name is all ListTagsForStream is asked with), read again
    /// after [`TAGS_TTL`].
    tags: Kept<String, HashMap<String, String>>,
}

/// How long one DescribeLimits answer is used: the account's open shards change only with
/// reshards (ours cooled down for minutes), and DescribeLimits allows one call per second
/// per account, which a storm of first events would otherwise spend.
const ACCOUNT_SHARDS_TTL: Duration = Duration::from_secs(60);

impl Deploy for Kinesis {
    type Resources = SdkStreams;
    fn resources(&self, sdk: &SdkConfig, _core: &CoreSettings) -> SdkStreams {
        SdkStreams::from_sdk(sdk)
    }
}

/// `AT_LATEST`: the shards open now, not the closed parents of every reshard.
fn open_shards_only(resource: &str) -> Result<ShardFilter> {
    ShardFilter::builder()
        .r#type(ShardFilterType::AtLatest)
        .build()
        .map_err(|e| Error::new(ErrorKind::Invalid, "ListShards", resource, e.to_string()))
}

impl SdkStreams {
    /// The streams' adapter on the clients `sdk` configures, as every deployed function and
    /// command builds it.
    pub fn from_sdk(sdk: &SdkConfig) -> Self {
        Self::new(Client::new(sdk), aws_sdk_cloudwatch::Client::new(sdk))
    }

    pub fn new(client: Client, metrics: aws_sdk_cloudwatch::Client) -> Self {
        Self {
            client,
            metrics,
            account: Kept::new(ACCOUNT_SHARDS_TTL),
            tags: Kept::new(TAGS_TTL),
        }
    }

    /// The open shards as ListShards returns them (raw JSON), for the snapshot.
    async fn open_shards(&self, stream: &str, resource: &str) -> Result<Vec<Value>> {
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let capture = CaptureResponse::default();
            // ListShards takes either the stream name (and the filter) or a NextToken.
            let request = match &next_token {
                Some(token) => self.client.list_shards().next_token(token),
                None => self
                    .client
                    .list_shards()
                    .stream_name(stream)
                    .shard_filter(open_shards_only(resource)?),
            };
            let page = request
                .customize()
                .interceptor(capture.clone())
                .send()
                .await
                .map_err(|e| classify_with("ListShards", resource, &e, RATE_LIMIT))?;
            let raw = capture.json("ListShards", resource)?;
            // A closed shard has an ending sequence number; open ones do not. (The filter
            // already leaves them out; an emulator may not.)
            shards.extend(
                raw["Shards"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|shard| shard["SequenceNumberRange"]["EndingSequenceNumber"].is_null())
                    .cloned(),
            );
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                return Ok(shards);
            }
        }
    }

    /// The stream's tags: kept ones if read less than [`TAGS_TTL`] ago.
    async fn tags(&self, stream: &str, resource: &str) -> Result<HashMap<String, String>> {
        if let Some(tags) = self.tags.get(&stream.to_owned()) {
            return Ok(tags);
        }
        let mut tags = HashMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .client
                .list_tags_for_stream()
                .stream_name(stream)
                .set_exclusive_start_tag_key(after.clone())
                .send()
                .await
                .map_err(|e| classify_with("ListTagsForStream", resource, &e, RATE_LIMIT))?;
            for tag in page.tags() {
                tags.insert(tag.key().to_owned(), tag.value().unwrap_or_default().to_owned());
                after = Some(tag.key().to_owned());
            }
            if !page.has_more_tags() || page.tags().is_empty() {
                self.tags.keep(stream.to_owned(), tags.clone());
                return Ok(tags);
            }
        }
    }
}

/// One listed shard in our terms (ListShards JSON, as the snapshot keeps it).
fn shard_of(shard: &Value, resource: &str) -> Result<Shard> {
    let field = |name: &str| shard.get(name).and_then(Value::as_str);
    let key = |name: &str| {
        shard
            .get("HashKeyRange")
            .and_then(|range| range.get(name))
            .and_then(Value::as_str)
            .and_then(|key| key.parse::<u128>().ok())
            .ok_or_else(|| Error::missing("ListShards", resource, &format!("HashKeyRange.{name}")))
    };
    Ok(Shard {
        id: field("ShardId")
            .ok_or_else(|| Error::missing("ListShards", resource, "ShardId"))?
            .to_owned(),
        parent: field("ParentShardId").map(str::to_owned),
        start: key("StartingHashKey")?,
        end: key("EndingHashKey")?,
    })
}

impl Describe<Kinesis> for SdkStreams {
    /// DescribeStreamSummary, ListShards, ListTagsForStream and DescribeLimits all take the
    /// stream's name or nothing: one round trip, four calls beside each other.
    async fn describe(&self, stream: &ResourceRef) -> Result<Described<StreamState>> {
        let resource = stream.name.clone();
        let stream = stream.name.as_str();
        let (summary, shards, tags, account) = tokio::join!(
            self.summary(stream, &resource),
            self.open_shards(stream, &resource),
            self.tags(stream, &resource),
            self.account_shards(&resource),
        );
        let (state, raw_summary) = summary?;
        let shards = shards?;
        let state = StreamState {
            shards: shards
                .iter()
                .map(|shard| shard_of(shard, &resource))
                .collect::<Result<_>>()?,
            account,
            ..state
        };
        Ok(Described {
            state,
            tags: tags?,
            raw: json!({ "DescribeStreamSummary": raw_summary, "OpenShards": shards }),
        })
    }
}

impl SdkStreams {
    /// The stream's summary in our terms, and as AWS wrote it for the snapshot.
    async fn summary(&self, stream: &str, resource: &str) -> Result<(StreamState, Value)> {
        let capture = CaptureResponse::default();
        let output = self
            .client
            .describe_stream_summary()
            .stream_name(stream)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| classify_with(DESCRIBE, resource, &e, RATE_LIMIT))?;
        let summary = output
            .stream_description_summary()
            .ok_or_else(|| Error::missing(DESCRIBE, resource, "StreamDescriptionSummary"))?;
        let raw_summary = capture.json(DESCRIBE, resource)?;
        let mode = match summary.stream_mode_details().map(|details| details.stream_mode()) {
            Some(AwsStreamMode::OnDemand) => StreamMode::OnDemand,
            // Streams created before on-demand existed carry no mode: they are provisioned.
            _ => StreamMode::Provisioned,
        };
        let open_shards = u32::try_from(summary.open_shard_count()).map_err(|_| {
            Error::new(
                ErrorKind::Invalid,
                DESCRIBE,
                resource,
                format!(
                    "OpenShardCount is {}, not a shard count",
                    summary.open_shard_count()
                ),
            )
        })?;
        let state = StreamState {
            name: summary.stream_name().to_owned(),
            arn: summary.stream_arn().to_owned(),
            status: Status::from_aws(summary.stream_status().as_str()),
            mode,
            open_shards,
            shards: Vec::new(),
            account: None,
        };
        Ok((state, raw_summary))
    }

    /// The account's shard quota and open shards in this region, read at most once a minute
    /// per container and never retried: DescribeLimits allows one request per second per
    /// account, so in a storm it is refused, and then the planner goes without it (and
    /// UpdateShardCount's own refusal backs the stream off) rather than wait on retries.
    async fn account_shards(&self, resource: &str) -> Option<AccountShards> {
        if let Some(shards) = self.account.get(&()) {
            return Some(shards);
        }
        let once = aws_sdk_kinesis::config::Builder::default().retry_config(RetryConfig::disabled());
        match self
            .client
            .describe_limits()
            .customize()
            .config_override(once)
            .send()
            .await
        {
            Ok(limits) => {
                let shards = AccountShards {
                    quota: u32::try_from(limits.shard_limit()).ok()?,
                    open: u32::try_from(limits.open_shard_count()).ok()?,
                };
                self.account.keep((), shards);
                Some(shards)
            }
            Err(e) => {
                let error = classify_with("DescribeLimits", resource, &e, RATE_LIMIT);
                warn!(error = %error, "the account's shard quota was not read; planning without it");
                None
            }
        }
    }
}

impl Diagnose<Kinesis> for SdkStreams {
    async fn diagnose(
        &self,
        target: &StreamTarget,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Diagnosis<StreamMetrics> {
        metrics::diagnose(&self.metrics, target, now).await
    }
}

impl crate::core::ports::Measure<Kinesis> for SdkStreams {
    async fn measure(
        &self,
        name: &str,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<StreamMetrics> {
        metrics::measure(&self.metrics, name, since, until).await
    }
}

impl Apply<Kinesis> for SdkStreams {
    async fn apply(&self, stream: &StreamState, change: &StreamChange) -> Result<()> {
        let resource = stream.name.clone();
        match change {
            StreamChange::SplitShard { shard, at } => self
                .client
                .split_shard()
                .stream_name(&stream.name)
                .shard_to_split(shard)
                .new_starting_hash_key(at)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("SplitShard", &resource, &e)),
            &StreamChange::UpdateShardCount { target } => {
                let target = i32::try_from(target).map_err(|_| {
                    Error::new(
                        ErrorKind::Invalid,
                        "UpdateShardCount",
                        &resource,
                        format!("{target} shards is out of range"),
                    )
                })?;
                self.client
                    .update_shard_count()
                    .stream_name(&stream.name)
                    .target_shard_count(target)
                    .scaling_type(ScalingType::UniformScaling)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("UpdateShardCount", &resource, &e))
            }
            StreamChange::SwitchToOnDemand => {
                let details = StreamModeDetails::builder()
                    .stream_mode(AwsStreamMode::OnDemand)
                    .build()
                    .map_err(|e| {
                        Error::new(ErrorKind::Invalid, "UpdateStreamMode", &resource, e.to_string())
                    })?;
                self.client
                    .update_stream_mode()
                    .stream_arn(&stream.arn)
                    .stream_mode_details(details)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("UpdateStreamMode", &resource, &e))
            }
        }
    }
}
