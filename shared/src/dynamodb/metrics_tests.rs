use super::*;

#[test]
fn every_measure_name_reads_back() {
    for measure in Measure::for_sides(&[Side::Read, Side::Write]) {
        assert_eq!(Measure::of_metric_name(&measure.metric_name()), Some(measure));
    }
    assert_eq!(Measure::of_metric_name("SuccessfulRequestLatency"), None);
}

#[test]
fn a_write_throttle_reads_six_table_metrics_and_one_gsi_search() {
    let measures = Measure::for_sides(&[Side::Write]);
    let queries = queries("orders", &measures);
    assert_eq!(queries.len(), 7);
    let names: Vec<String> = queries[..6]
        .iter()
        .map(|q| {
            q.metric_stat()
                .and_then(|s| s.metric())
                .and_then(|m| m.metric_name())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "ConsumedWriteCapacityUnits",
            "WriteThrottleEvents",
            "WriteProvisionedThroughputThrottleEvents",
            "WriteKeyRangeThroughputThrottleEvents",
            "WriteAccountLimitThrottleEvents",
            "WriteMaxOnDemandThroughputThrottleEvents",
        ]
    );
    let search = queries[6].expression().unwrap_or_default();
    assert!(search.starts_with("SEARCH('{AWS/DynamoDB,GlobalSecondaryIndexName,TableName} TableName=\"orders\" (MetricName=\"ConsumedWriteCapacityUnits\" OR "), "{search}");
    assert!(search.ends_with(")', 'Sum', 60)"), "{search}");
}

#[test]
fn results_are_filed_by_id_and_label_and_strangers_dropped() {
    let measures = Measure::for_sides(&[Side::Write]);
    let result = |id: &str, label: Option<&str>, values: &[f64]| {
        MetricDataResult::builder()
            .id(id)
            .set_label(label.map(str::to_owned))
            .set_values(Some(values.to_vec()))
            .build()
    };
    let results = [
        result("t0", None, &[600.0, 1_200.0]),
        result("t3", None, &[4.0]),
        result(
            "gsis",
            Some("orders by-customer WriteProvisionedThroughputThrottleEvents"),
            &[7.0],
        ),
        result(
            "gsis",
            Some("orders-archive by-customer WriteThrottleEvents"),
            &[99.0],
        ),
        result("gsis", Some("orders by-customer ReadThrottleEvents"), &[99.0]),
        result("gsis", Some("malformed"), &[99.0]),
        result("t99", None, &[99.0]),
    ];
    let metrics = read_results("orders", &measures, &results);
    assert_eq!(metrics.table.write.consumed, Sums(vec![600.0, 1_200.0]));
    assert_eq!(
        metrics.table.write.by_cause.get(&Cause::KeyRangeThroughput),
        Some(&Sums(vec![4.0]))
    );
    assert_eq!(metrics.indexes.len(), 1);
    let gsi = &metrics.indexes["by-customer"];
    assert_eq!(
        gsi.write.by_cause.get(&Cause::ProvisionedThroughput),
        Some(&Sums(vec![7.0]))
    );
    assert!(gsi.read.throttle_events.is_empty());
}
