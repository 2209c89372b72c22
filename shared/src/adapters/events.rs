//! Announcements as EventBridge events on the account's default bus.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::Value;

use crate::adapters::errors::classify;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::ports::Announce;

/// The `source` of every event unthrottle puts on a bus.
pub const SOURCE: &str = "unthrottle";
const PUT_EVENTS: &str = "PutEvents";

/// What a refused entry's `ErrorCode` says: a retry helps only with a transient failure.
fn entry_kind(code: Option<&str>) -> ErrorKind {
    match code {
        Some("AccessDeniedException" | "NotAuthorizedForSourceException") => ErrorKind::AccessDenied,
        Some("ValidationException" | "InvalidArgument" | "MalformedDetail" | "MalformedEventBus") => {
            ErrorKind::Invalid
        }
        Some("ThrottlingException") => ErrorKind::Throttled,
        _ => ErrorKind::Transient,
    }
}

pub struct EventBridgeBus {
    client: Client,
}

impl EventBridgeBus {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl Announce for EventBridgeBus {
    async fn announce(&self, detail_type: &str, detail: &Value) -> Result<()> {
        let entry = PutEventsRequestEntry::builder()
            .source(SOURCE)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .build();
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| classify(PUT_EVENTS, "the default event bus", &e))?;
        // PutEvents answers 200 even when it refused the entry: the entry says why.
        match output.entries().first() {
            Some(entry) if entry.event_id().is_some() => Ok(()),
            entry => Err(Error::new(
                entry_kind(entry.and_then(|e| e.error_code())),
                PUT_EVENTS,
                "the default event bus",
                format!(
                    "the {detail_type} event was not put: {} {}",
                    entry
                        .and_then(|e| e.error_code())
                        .unwrap_or("no entry in the answer"),
                    entry.and_then(|e| e.error_message()).unwrap_or_default()
                ),
            )),
        }
    }
}
