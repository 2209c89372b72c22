//! A stream's one dial: `shards`, its open shard count.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::model::{Call, Raised, Restores};
use super::planner::{Limit, Usage};
use crate::core::domain::{Action, HistoryEntry, Status};
use crate::kinesis::limits::{
    SHARD_READ_BYTES_PER_SECOND, SHARD_UPDATES_PER_DAY, SHARD_WRITE_BYTES_PER_SECOND,
    SHARD_WRITE_RECORDS_PER_SECOND,
};
use crate::kinesis::{
    Kinesis, SPLIT_SHARD, StreamChange, StreamMetrics, StreamMode, StreamState, UPDATE_SHARD_COUNT,
};

const SHARDS: &str = "shards";

impl Restores for Kinesis {
    fn raised(action: &str, before: &Value, after: &Value, _describe: &Value) -> Option<Raised> {
        let open = |plan: &Value| plan["openShards"].as_u64();
        if action == UPDATE_SHARD_COUNT.name() || action == SPLIT_SHARD.name() {
            let dials = match (open(before), open(after)) {
                (Some(before), Some(after)) if after > before => vec![(SHARDS.to_owned(), before, after)],
                _ => Vec::new(),
            };
            return Some(Raised {
                dials,
                switched: false,
            });
        }
        if action == Action::SWITCH_TO_ON_DEMAND.name() {
            return Some(Raised {
                dials: open(before)
                    .map(|before| vec![(SHARDS.to_owned(), before, 0)])
                    .unwrap_or_default(),
                switched: true,
            });
        }
        None
    }

    fn dials(state: &StreamState) -> BTreeMap<String, u64> {
        // An on-demand stream's shards are AWS's to set: no dial restore may turn.
        match state.mode {
            StreamMode::Provisioned => BTreeMap::from([(SHARDS.to_owned(), u64::from(state.open_shards))]),
            StreamMode::OnDemand => BTreeMap::new(),
        }
    }

    fn busy(state: &StreamState) -> bool {
        state.status != Status::Active
    }

    fn on_demand(state: &StreamState) -> bool {
        state.mode == StreamMode::OnDemand
    }

    fn raised_at(_state: &StreamState) -> Option<DateTime<Utc>> {
        // DescribeStreamSummary reports no change times: unthrottle's own raises (the
        // snapshots) and the stream's throttles are what restore goes by.
        None
    }

    fn limits(state: &StreamState, history: &[HistoryEntry], now: DateTime<Utc>) -> BTreeMap<String, Limit> {
        let day = now - Duration::hours(24);
        let updates = history
            .iter()
            .filter(|entry| entry.action == UPDATE_SHARD_COUNT && entry.at > day)
            .count();
        let limit = if updates >= SHARD_UPDATES_PER_DAY as usize {
            Limit::Blocked(format!(
                "{updates} shard-count updates in the last 24 h, AWS's most ({SHARD_UPDATES_PER_DAY})"
            ))
        } else {
            // UpdateShardCount at most halves a stream in one call.
            Limit::Down(u64::from(state.open_shards.div_ceil(2)))
        };
        BTreeMap::from([(SHARDS.to_owned(), limit)])
    }

    fn usage(evidence: &StreamMetrics) -> Usage {
        let shards = |sums: &crate::core::diagnosis::Sums, per_shard: f64| {
            sums.peak_per_second().map(|rate| rate / per_shard)
        };
        let needed = [
            shards(&evidence.incoming_bytes, SHARD_WRITE_BYTES_PER_SECOND),
            shards(&evidence.incoming_records, SHARD_WRITE_RECORDS_PER_SECOND),
            shards(&evidence.read_bytes, SHARD_READ_BYTES_PER_SECOND),
        ]
        .into_iter()
        .flatten()
        .reduce(f64::max);
        Usage {
            throttles: evidence.throttled_writes.total()
                + evidence.throttled_reads.total()
                + evidence
                    .throttled_by_shard
                    .values()
                    .map(|sums| sums.total())
                    .sum::<f64>(),
            peak: needed
                .map(|needed| BTreeMap::from([(SHARDS.to_owned(), needed)]))
                .unwrap_or_default(),
        }
    }

    fn change(
        _state: &StreamState,
        to: &BTreeMap<String, u64>,
        switch_back: bool,
    ) -> Result<Call<StreamChange>, String> {
        if switch_back {
            return Err(
                "switching a stream back to provisioned is not built: by hand, aws kinesis update-stream-mode \
                 --stream-mode-details StreamMode=PROVISIONED (AWS allows two mode changes per 24 h)"
                    .to_owned(),
            );
        }
        let target = to
            .get(SHARDS)
            .and_then(|shards| u32::try_from(*shards).ok())
            .ok_or_else(|| "no shard count to set".to_owned())?;
        Ok(Call {
            action: UPDATE_SHARD_COUNT,
            change: StreamChange::UpdateShardCount { target },
            applied: BTreeMap::from([(SHARDS.to_owned(), u64::from(target))]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diagnosis::Sums;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn updates(n: usize) -> Vec<HistoryEntry> {
        (0..n)
            .map(|i| HistoryEntry {
                at: now() - Duration::hours(i as i64 + 1),
                action: UPDATE_SHARD_COUNT,
                event_id: format!("e{i}"),
                subject: None,
            })
            .collect()
    }

    #[test]
    fn a_stream_halves_at_most_and_ten_updates_a_day_stop_it() {
        let stream = crate::testing::provisioned_stream("clicks", 9);
        assert_eq!(
            Kinesis::limits(&stream, &updates(9), now())[SHARDS],
            Limit::Down(5)
        );
        assert!(matches!(
            Kinesis::limits(&stream, &updates(10), now())[SHARDS],
            Limit::Blocked(_)
        ));
    }

    #[test]
    fn demand_in_shards_is_the_largest_of_bytes_records_and_reads() {
        let metrics = StreamMetrics {
            // 3 MiB/s in the busiest minute: three shards' writes.
            incoming_bytes: Sums(vec![60.0 * 3.0 * SHARD_WRITE_BYTES_PER_SECOND]),
            incoming_records: Sums(vec![60.0 * 500.0]),
            read_bytes: Sums(vec![60.0 * SHARD_READ_BYTES_PER_SECOND]),
            throttled_by_shard: BTreeMap::from([("shardId-0".to_owned(), Sums(vec![0.0, 2.0]))]),
            throttled_reads: Sums(vec![1.0]),
            throttled_writes: Sums::default(),
        };
        let usage = Kinesis::usage(&metrics);
        assert_eq!(usage.peak[SHARDS], 3.0);
        assert_eq!(usage.throttles, 3.0, "per shard and the stream's reads");
    }
}
