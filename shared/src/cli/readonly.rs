//! The ports `unthrottle plan` runs the pipeline on: the real ledger for reading, and every
//! write refused. The pipeline writes nothing in a dry run; these make that a checked
//! promise rather than a hope: a write fails the command (exit code 4).

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::core::domain::{HistoryEntry, ResourceRef};
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::ledger::{Admission, LedgerView, Refusal, Release, Sighting, Ticket};
use crate::core::ports::{Announce, Ledger, Metrics, Snapshots};
use crate::core::report::Report;

/// Whether anything tried to write: shared by the ports of one plan.
#[derive(Debug, Default)]
pub struct Writes(AtomicBool);

impl Writes {
    pub fn attempted(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn refuse(&self, step: &str, resource: impl Into<String>) -> Error {
        self.0.store(true, Ordering::SeqCst);
        Error::new(
            ErrorKind::Invalid,
            step,
            resource,
            "`unthrottle plan` writes nothing: this write was refused",
        )
    }
}

/// A ledger that reads through `L` and refuses every write.
pub struct ReadOnlyLedger<'a, L> {
    pub inner: L,
    pub writes: &'a Writes,
}

impl<L: Ledger> Ledger for ReadOnlyLedger<'_, L> {
    async fn view(&self, resource: &ResourceRef, now: chrono::DateTime<chrono::Utc>) -> Result<LedgerView> {
        self.inner.view(resource, now).await
    }

    async fn claim(&self, ticket: &Ticket) -> Result<Admission> {
        Err(self
            .writes
            .refuse("UpdateItem (claim)", ticket.resource.to_string()))
    }

    async fn commit(
        &self,
        ticket: &Ticket,
        _changes: &[HistoryEntry],
        _expired: &[HistoryEntry],
        _forgive: bool,
    ) -> Result<()> {
        Err(self
            .writes
            .refuse("UpdateItem (commit)", ticket.resource.to_string()))
    }

    async fn release(
        &self,
        ticket: &Ticket,
        _release: Release<'_>,
        _refusal: Option<&Refusal>,
    ) -> Result<()> {
        Err(self
            .writes
            .refuse("UpdateItem (release)", ticket.resource.to_string()))
    }

    async fn record(&self, resource: &ResourceRef, entry: &HistoryEntry) -> Result<()> {
        let _ = entry;
        Err(self.writes.refuse("PutItem (history)", resource.to_string()))
    }

    async fn sight(&self, resource: &ResourceRef, sighting: &Sighting) -> Result<u32> {
        let _ = sighting;
        Err(self.writes.refuse("UpdateItem (sighting)", resource.to_string()))
    }
}

/// The snapshot bucket, the metrics and the bus of a plan: each write refused.
pub struct NoWrites<'a>(pub &'a Writes);

impl Snapshots for NoWrites<'_> {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<String> {
        let _ = body;
        Err(self.0.refuse("PutObject (snapshot)", key))
    }
}

impl Metrics for NoWrites<'_> {
    async fn publish(&self, reports: &[Report]) -> Result<()> {
        let _ = reports;
        Err(self.0.refuse("publish metrics", "-"))
    }
}

impl Announce for NoWrites<'_> {
    async fn announce(&self, detail_type: &str, detail: &Value) -> Result<()> {
        let _ = detail;
        Err(self.0.refuse("PutEvents", detail_type))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::core::domain::ServiceId;
    use crate::testing::MemoryLedger;

    /// Reads go through; every write is refused and remembered, so the plan fails.
    #[tokio::test]
    async fn the_plans_ledger_reads_and_refuses_every_write() {
        let writes = Writes::default();
        let ledger = ReadOnlyLedger {
            inner: MemoryLedger::default(),
            writes: &writes,
        };
        let resource = ResourceRef {
            service: ServiceId {
                key: "dynamodb",
                metric_name: "DynamoDB",
            },
            account: "123456789012".into(),
            region: "us-east-1".into(),
            name: "orders".into(),
        };
        let now = Utc::now();
        ledger.view(&resource, now).await.expect("a read goes through");
        assert!(!writes.attempted());
        let ticket = Ticket {
            resource: resource.clone(),
            event_id: "e".into(),
            invocation: "i".into(),
            now,
            lease: chrono::Duration::minutes(1),
            cooldown: chrono::Duration::minutes(5),
        };
        assert!(ledger.claim(&ticket).await.is_err());
        assert!(writes.attempted(), "remembered: the plan fails with exit code 4");
        assert_eq!(ledger.inner.writes(), 0, "nothing reached the ledger");
        assert!(NoWrites(&writes).put("k", Vec::new()).await.is_err());
        assert!(NoWrites(&writes).publish(&[]).await.is_err());
        assert!(
            NoWrites(&writes)
                .announce("Quota Pressure", &Value::Null)
                .await
                .is_err()
        );
    }
}
