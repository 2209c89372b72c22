//! The snapshot bucket read back: by `unthrottle history` and `rollback`, and by `restore`,
//! the one function whose role may list and read it (tests/tests/permissions.rs).

use crate::adapters::errors::classify;
use crate::adapters::snapshots::S3Snapshots;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::ports::SnapshotArchive;

impl SnapshotArchive for S3Snapshots {
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let client: &aws_sdk_s3::Client = &self.client;
        let mut pages = client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                classify("ListObjectsV2", &self.location(prefix), &e)
                    .advise("check that SNAPSHOT_BUCKET names the deployment's snapshot bucket")
            })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let location = self.location(key);
        let client: &aws_sdk_s3::Client = &self.client;
        let object = client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify("GetObject", &location, &e))?;
        let body =
            object.body.collect().await.map_err(|e| {
                Error::new(ErrorKind::Transient, "GetObject (body)", &location, e.to_string())
            })?;
        Ok(body.into_bytes().to_vec())
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}
