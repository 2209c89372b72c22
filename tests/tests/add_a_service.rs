//! The recipe in docs/architecture.md ("Adding a service"), followed to the letter for a toy
//! third service, "widgets", outside the crate: if the recipe or the seams it names drift,
//! this stops compiling or fails. Steps 1-5 below are the recipe's steps.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use unthrottle::core::config::{AllowList, ConfigError, CoreSettings, Env, SCALE_FACTOR, Variable, growth};
use unthrottle::core::diagnosis::Diagnosis;
use unthrottle::core::domain::{Action, HistoryEntry, Pressure, ResourceRef, ServiceId};
use unthrottle::core::envelope::{ApiCallDetail, Envelope, MetricId, Triage, TriggerError};
use unthrottle::core::error::{Error, ErrorKind, Result};
use unthrottle::core::guards::{Growth, RollingWindow};
use unthrottle::core::pipeline::Pipeline;
use unthrottle::core::plan::{Decision, Proposal, SkipReason};
use unthrottle::core::ports::{Apply, Describe, Described, Diagnose};
use unthrottle::core::report::Outcome;
use unthrottle::core::service::Service;
use unthrottle::core::trigger::{self, CallReading, CapacitySignals, Signals, Target};
use unthrottle::testing::{
    MemoryLedger, MemorySnapshots, RecordedAnnouncements, RecordedMetrics, happened_at,
};

// 1. Its own types: the target an event names, the state a describe returns, the change.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct WidgetTarget {
    widget: String,
    pressure: Pressure,
}

impl Target for WidgetTarget {
    fn resource(&self) -> &str {
        &self.widget
    }
    fn absorb(&mut self, other: Self) {
        self.pressure.merge(other.pressure);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct WidgetState {
    name: String,
    units: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct SetUnits(u64);

const SET_UNITS: Action = Action::named("SetUnits");

// 2. Its settings: variables declared once, read with the core's readers.
const WIDGET_ALLOW: Variable = AllowList::variable("WIDGET_ALLOW", "widgets this function may change");
const MAX_UNITS: Variable = Variable::new(
    "MAX_UNITS",
    Some("100"),
    "a whole number of at least 1",
    "the most units it gives a widget",
)
.at_least("1");

struct Widgets {
    growth: Growth,
    max_units: u64,
    allow: AllowList,
}

// 3. Its trigger: only what is its own; the core does the rest.
impl CapacitySignals for Widgets {
    type Target = WidgetTarget;
    const SIGNALS: Signals = Signals {
        label: "Widgets",
        event_source: "widgets.amazonaws.com",
        throttle_codes: &["ThrottlingException"],
        metric_namespace: "AWS/Widgets",
        resource_dimension: "WidgetName",
        resource_kind: "widget",
    };

    fn throttled_call(call: &ApiCallDetail, _code: &str) -> CallReading<WidgetTarget> {
        let widgets = call.parameter("widgetName").map(|name| WidgetTarget {
            widget: name.to_owned(),
            pressure: Pressure::WRITE,
        });
        CallReading::Throttled(widgets.into_iter().collect())
    }

    fn alarm_metric(metric: &MetricId) -> Option<WidgetTarget> {
        Some(WidgetTarget {
            widget: metric.dimensions.get("WidgetName")?.clone(),
            pressure: Pressure::BOTH,
        })
    }
}

// 4. The seam: the Service trait, with a pure planner built from the core's guards.
impl Service for Widgets {
    const ID: ServiceId = ServiceId {
        key: "widgets",
        metric_name: "Widgets",
    };
    const VARIABLES: &'static [&'static Variable] = &[&WIDGET_ALLOW, &SCALE_FACTOR, &MAX_UNITS];
    type Target = WidgetTarget;
    type State = WidgetState;
    type Change = SetUnits;
    type Evidence = ();

    fn from_env(env: &Env) -> std::result::Result<Self, ConfigError> {
        Ok(Self {
            growth: growth(env, None)?,
            max_units: env.number(&MAX_UNITS)?,
            allow: AllowList::from_env(env, &WIDGET_ALLOW)?,
        })
    }

    fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    fn triage(envelope: &Envelope) -> std::result::Result<Triage<WidgetTarget>, TriggerError> {
        trigger::triage::<Self>(envelope)
    }

    fn applied(state: &WidgetState, change: &SetUnits) -> bool {
        state.units == change.0
    }

    fn plan(
        &self,
        _target: &WidgetTarget,
        state: &WidgetState,
        _diagnosis: &Diagnosis<()>,
        history: &[HistoryEntry],
        now: DateTime<Utc>,
    ) -> Decision<SetUnits> {
        let daily = RollingWindow {
            action: SET_UNITS,
            limit: 2,
        };
        if let Err(count) = daily.check(history, None, now) {
            return Decision::hold(SkipReason::DailyLimit, format!("{count} changes today"));
        }
        match self.growth.raise(state.units, self.max_units) {
            None => Decision::hold(SkipReason::AtCap, format!("{} is at MAX_UNITS", state.name)),
            Some(units) => Decision::Act(Proposal {
                action: SET_UNITS,
                change: SetUnits(units),
                before: json!({ "units": state.units }),
                after: json!({ "units": units }),
                why: format!("widget {} units {} -> {units}", state.name, state.units),
                cause: None,
                finding: None,
                quota: None,
            }),
        }
    }
}

// 5. Its adapter behind Describe, Diagnose and Apply (here in memory; in the crate, `aws.rs`
//    with the SDK). Widgets publish no metrics that say why they throttled: nothing to read.
#[derive(Default)]
struct FakeWidgets(Mutex<HashMap<String, u64>>);

impl Describe<Widgets> for FakeWidgets {
    async fn describe(&self, resource: &ResourceRef) -> Result<Described<WidgetState>> {
        let name = resource.name.as_str();
        let units = *self
            .0
            .lock()
            .unwrap()
            .get(name)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "DescribeWidget", name, "no such widget"))?;
        Ok(Described {
            state: WidgetState {
                name: name.to_owned(),
                units,
            },
            tags: HashMap::new(),
            raw: json!({ "Widget": { "Name": name, "Units": units } }),
        })
    }
}

impl Diagnose<Widgets> for FakeWidgets {
    async fn diagnose(&self, _target: &WidgetTarget, _now: DateTime<Utc>) -> Diagnosis<()> {
        Diagnosis::NotNeeded
    }
}

impl Apply<Widgets> for FakeWidgets {
    async fn apply(&self, state: &WidgetState, change: &SetUnits) -> Result<()> {
        self.0.lock().unwrap().insert(state.name.clone(), change.0);
        Ok(())
    }
}

fn throttled(event_id: &str, widget: &str) -> Value {
    json!({
        "version": "0", "id": format!("envelope-{event_id}"), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.widgets", "account": "123456789012", "time": "2026-11-20T10:15:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {
            "eventSource": "widgets.amazonaws.com", "eventName": "PutWidget",
            "errorCode": "ThrottlingException", "eventID": event_id,
            "requestParameters": { "widgetName": widget }
        }
    })
}

#[tokio::test]
async fn a_third_service_built_from_the_recipe_heals_through_the_shared_pipeline() {
    let vars = HashMap::from([
        ("SNAPSHOT_BUCKET", "snaps"),
        ("LEDGER_TABLE", "ledger"),
        ("MAX_UNITS", "12"),
    ]);
    let env = Env::from_fn(|key| vars.get(key).map(|v| (*v).to_owned()));
    let widgets = FakeWidgets::default();
    widgets.0.lock().unwrap().insert("gear".to_owned(), 5);
    let pipeline = Pipeline {
        service: Widgets::from_env(&env).unwrap(),
        resources: widgets,
        ledger: MemoryLedger::default(),
        snapshots: MemorySnapshots::default(),
        metrics: RecordedMetrics::default(),
        bus: RecordedAnnouncements::default(),
        options: CoreSettings::from_env(&env).unwrap().run,
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 20, 10, 15, 5).unwrap();

    let reports = pipeline.handle(throttled("w-1", "gear"), now).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (
            reports[0].outcome,
            reports[0].service.key,
            reports[0].action.clone()
        ),
        (Outcome::Remediated, "widgets", Some(SET_UNITS))
    );
    assert_eq!(pipeline.resources.0.lock().unwrap()["gear"], 10);
    let (key, snapshot) = &pipeline.snapshots.objects()[0];
    assert!(
        key.starts_with("snapshots/widgets/123456789012/us-east-1/gear/"),
        "{key}"
    );
    assert_eq!(snapshot["describe"]["Widget"]["Units"], json!(5));
    assert_eq!(pipeline.metrics.published()[0].service.metric_name, "Widgets");

    // The core's cooldown, duplicate handling and trigger checks apply to it unchanged.
    let again = pipeline.handle(throttled("w-1", "gear"), now).await.unwrap();
    assert_eq!(again[0].code, Some("duplicate"));
    let an_hour_later = now + chrono::Duration::hours(1);
    let later = pipeline
        .handle(
            happened_at(throttled("w-2", "gear"), an_hour_later),
            an_hour_later,
        )
        .await
        .unwrap();
    assert_eq!(later[0].outcome, Outcome::Remediated, "{later:?}");
    assert_eq!(
        pipeline.resources.0.lock().unwrap()["gear"],
        12,
        "capped at MAX_UNITS"
    );
    let mut other = throttled("w-3", "gear");
    other["detail"]["eventSource"] = json!("kinesis.amazonaws.com");
    let not_ours = pipeline.handle(other, now).await.unwrap();
    assert_eq!(not_ours[0].code, Some("not-ours"));
}
