//! Snapshots in S3.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::adapters::errors::classify;
use crate::core::error::Result;
use crate::core::ports::Snapshots;

pub struct S3Snapshots {
    pub(crate) client: Client,
    pub(crate) bucket: String,
}

impl S3Snapshots {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

impl Snapshots for S3Snapshots {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<String> {
        let location = format!("s3://{}/{key}", self.bucket);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| {
                classify("PutObject", &location, &e)
                    .advise("check that SNAPSHOT_BUCKET exists and the function may write to it")
            })?;
        Ok(location)
    }
}
