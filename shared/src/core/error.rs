//! The one error type every port returns: what failed, on what, and what kind of failure it
//! was, kept from the adapter to the handler so the pipeline can tell a retry that may work
//! from one that never will.

use serde::Serialize;
use strum::{Display, IntoStaticStr};
use thiserror::Error;

/// What kind of failure AWS (or a store) reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Display, IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// AWS throttled the call itself; the SDK already retried it.
    Throttled,
    /// A timeout, a dropped connection, a 5xx or a resource busy with another update.
    Transient,
    /// The resource (table, stream, bucket) does not exist.
    NotFound,
    /// The function's role may not make the call, or its credentials are not valid.
    AccessDenied,
    /// AWS refused the request as malformed, or a response lacked what it must hold.
    Invalid,
    /// An AWS limit refused the change (e.g. DynamoDB's daily decreases, account quotas).
    Refused,
}

/// A call through a port failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{operation} on {resource} failed ({kind}): {message}")]
pub struct Error {
    pub kind: ErrorKind,
    /// The AWS operation or store step, e.g. `UpdateTable`, `PutItem (claim)`.
    pub operation: String,
    /// What it was called on, e.g. `table orders`, `s3://bucket/key`.
    pub resource: String,
    /// What AWS said, and what to do about it where we know.
    pub message: String,
    /// No answer came (a timeout, a dropped connection) or AWS failed inside (5xx): the
    /// request may have been carried out. An error AWS answered with means it was not.
    pub outcome_unknown: bool,
}

impl Error {
    pub fn new(
        kind: ErrorKind,
        operation: impl Into<String>,
        resource: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            operation: operation.into(),
            resource: resource.into(),
            message: message.into(),
            outcome_unknown: false,
        }
    }

    /// The request may have been carried out though it failed: see `outcome_unknown`.
    pub fn with_unknown_outcome(mut self) -> Self {
        self.outcome_unknown = true;
        self
    }

    /// A response that lacks a field it must have: never read as a default.
    pub fn missing(operation: &str, resource: &str, field: &str) -> Self {
        Self::new(
            ErrorKind::Invalid,
            operation,
            resource,
            format!("the response has no {field}, so nothing can be planned from it"),
        )
    }

    /// Appends advice for the operator, e.g. which setting to check.
    pub fn advise(mut self, advice: &str) -> Self {
        self.message.push_str("; ");
        self.message.push_str(advice);
        self
    }

    /// Whether trying the same call again later may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Transient)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
