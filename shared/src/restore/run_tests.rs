use super::*;

/// An hourly sweep with no episode due reads the ledger and the archive only: the tables'
/// and the streams' clients are left for a sweep that needs them.
#[test]
fn the_tables_and_streams_clients_wait_for_their_first_use() {
    let env = crate::core::config::tests::env(&crate::core::config::tests::REQUIRED);
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let restorer = deployed(&env, &sdk)
        .expect("valid settings")
        .expect("restore is on by default");
    assert!(!restorer.tables.is_built(), "the tables' clients");
    assert!(!restorer.streams.is_built(), "the streams' clients");
    let _ = restorer.tables.get();
    assert!(restorer.tables.is_built(), "built on first use");
}
