//! CloudWatch Embedded Metric Format: one JSON line per datum, which CloudWatch Logs
//! turns into a metric. No API call and no IAM permission; the cost is that a function
//! that times out before writing loses the line.

use std::io::Write;
use std::sync::Mutex;

use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::core::error::{Error, ErrorKind, Result};
use crate::core::metrics::data_for;
use crate::core::ports::Metrics;
use crate::core::report::Report;

pub struct EmfSink<W> {
    namespace: String,
    out: Mutex<W>,
}

impl<W: Write + Send> EmfSink<W> {
    pub fn new(namespace: impl Into<String>, out: W) -> Self {
        Self {
            namespace: namespace.into(),
            out: Mutex::new(out),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lines(&self, reports: &[Report]) -> Vec<String> {
        let timestamp = Utc::now().timestamp_millis();
        data_for(reports)
            .into_iter()
            .map(|datum| {
                let names: Vec<&str> = datum.dimensions.iter().map(|(name, _)| *name).collect();
                let mut line = Map::new();
                line.insert(
                    "_aws".into(),
                    json!({
                        "Timestamp": timestamp,
                        "CloudWatchMetrics": [{
                            "Namespace": self.namespace,
                            "Dimensions": [names],
                            "Metrics": [{"Name": datum.name, "Unit": "Count"}],
                        }],
                    }),
                );
                for (name, value) in datum.dimensions {
                    line.insert(name.into(), Value::String(value));
                }
                line.insert(datum.name.into(), json!(1));
                Value::Object(line).to_string()
            })
            .collect()
    }
}

impl<W: Write + Send> Metrics for EmfSink<W> {
    async fn publish(&self, reports: &[Report]) -> Result<()> {
        let lines = self.lines(reports);
        let mut out = self.out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for line in lines {
            writeln!(out, "{line}")
                .map_err(|e| Error::new(ErrorKind::Transient, "write EMF line", "stdout", e.to_string()))?;
        }
        out.flush()
            .map_err(|e| Error::new(ErrorKind::Transient, "flush EMF lines", "stdout", e.to_string()))
    }
}

#[cfg(test)]
#[path = "emf_tests.rs"]
mod tests;
