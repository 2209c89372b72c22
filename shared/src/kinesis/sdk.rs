//! The Kinesis port over aws-sdk-kinesis.

use std::collections::HashMap;

use aws_sdk_kinesis::operation::describe_stream_summary::DescribeStreamSummaryError;
use aws_sdk_kinesis::types::{ScalingType, StreamMode as AwsStreamMode, StreamModeDetails};
use aws_sdk_kinesis::Client;
use serde_json::{json, Value};

use super::catalog::{StreamCatalog, StreamChange, StreamMode, StreamState};
use crate::aws::{describe_error, CaptureResponse};
use crate::domain::Status;
use crate::pipeline::{Described, PortError};

pub struct SdkStreams {
    client: Client,
}

impl SdkStreams {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The open shards as ListShards returns them (raw JSON), for the snapshot.
    async fn open_shards(&self, stream: &str) -> Result<Vec<Value>, PortError> {
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let capture = CaptureResponse::default();
            // ListShards takes either the stream name or a NextToken, never both.
            let request = match &next_token {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_name(stream),
            };
            let page = request
                .customize()
                .interceptor(capture.clone())
                .send()
                .await
                .map_err(|e| PortError::aws("ListShards", stream, describe_error(&e)))?;
            let raw = capture
                .json()
                .ok_or_else(|| PortError::aws("ListShards", stream, "the response body was not JSON"))?;
            // A closed shard has an ending sequence number; open ones do not.
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

    async fn tags(&self, stream: &str) -> Result<HashMap<String, String>, PortError> {
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
                .map_err(|e| PortError::aws("ListTagsForStream", stream, describe_error(&e)))?;
            for tag in page.tags() {
                tags.insert(tag.key().to_owned(), tag.value().unwrap_or_default().to_owned());
                after = Some(tag.key().to_owned());
            }
            if !page.has_more_tags() || page.tags().is_empty() {
                return Ok(tags);
            }
        }
    }
}

impl StreamCatalog for SdkStreams {
    async fn describe(&self, stream: &str) -> Result<Described<StreamState>, PortError> {
        let capture = CaptureResponse::default();
        let output = self
            .client
            .describe_stream_summary()
            .stream_name(stream)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(DescribeStreamSummaryError::ResourceNotFoundException(_)) => PortError::NotFound {
                    resource: format!("stream {stream}"),
                },
                _ => PortError::aws("DescribeStreamSummary", stream, describe_error(&e)),
            })?;
        let summary = output.stream_description_summary().ok_or_else(|| {
            PortError::aws(
                "DescribeStreamSummary",
                stream,
                "the response holds no stream summary",
            )
        })?;
        let raw_summary = capture.json().ok_or_else(|| {
            PortError::aws(
                "DescribeStreamSummary",
                stream,
                "the response body was not JSON, so no snapshot can be made",
            )
        })?;
        let mode = match summary.stream_mode_details().map(|details| details.stream_mode()) {
            Some(AwsStreamMode::OnDemand) => StreamMode::OnDemand,
            _ => StreamMode::Provisioned,
        };
        let state = StreamState {
            name: summary.stream_name().to_owned(),
            arn: summary.stream_arn().to_owned(),
            status: Status::from_aws(summary.stream_status().as_str()),
            mode,
            open_shards: u32::try_from(summary.open_shard_count()).unwrap_or(0),
        };
        let open_shards = self.open_shards(stream).await?;
        Ok(Described {
            state,
            tags: self.tags(stream).await?,
            raw: json!({ "DescribeStreamSummary": raw_summary, "OpenShards": open_shards }),
        })
    }

    async fn update(&self, stream: &StreamState, change: StreamChange) -> Result<(), PortError> {
        match change {
            StreamChange::UpdateShardCount { target } => self
                .client
                .update_shard_count()
                .stream_name(&stream.name)
                .target_shard_count(i32::try_from(target).unwrap_or(i32::MAX))
                .scaling_type(ScalingType::UniformScaling)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| PortError::aws("UpdateShardCount", &stream.name, describe_error(&e))),
            StreamChange::SwitchToOnDemand => {
                let details = StreamModeDetails::builder()
                    .stream_mode(AwsStreamMode::OnDemand)
                    .build()
                    .map_err(|e| PortError::aws("UpdateStreamMode", &stream.name, e.to_string()))?;
                self.client
                    .update_stream_mode()
                    .stream_arn(&stream.arn)
                    .stream_mode_details(details)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| PortError::aws("UpdateStreamMode", &stream.name, describe_error(&e)))
            }
        }
    }
}
