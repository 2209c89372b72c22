use super::{classify, classify_with, describe_error, kind_of};
use crate::core::error::ErrorKind;
use aws_smithy_runtime_api::client::result::SdkError;

#[derive(Debug, thiserror::Error)]
#[error("service error")]
struct Outer(#[source] Inner);

#[derive(Debug, thiserror::Error)]
#[error("LimitExceededException: too many shards")]
struct Inner;

#[test]
fn errors_read_as_their_chain_of_causes_without_debug_dumps() {
    assert_eq!(
        describe_error(&Outer(Inner)),
        "service error: LimitExceededException: too many shards"
    );
}

#[test]
fn error_codes_keep_their_kind() {
    let cases = [
        (Some("ThrottlingException"), false, ErrorKind::Throttled),
        (
            Some("ProvisionedThroughputExceededException"),
            false,
            ErrorKind::Throttled,
        ),
        (Some("ResourceNotFoundException"), false, ErrorKind::NotFound),
        (Some("NoSuchBucket"), false, ErrorKind::NotFound),
        (Some("AccessDeniedException"), false, ErrorKind::AccessDenied),
        (Some("LimitExceededException"), false, ErrorKind::Refused),
        (Some("ResourceInUseException"), false, ErrorKind::Transient),
        (Some("ValidationException"), false, ErrorKind::Invalid),
        (Some("SomethingNew"), true, ErrorKind::Transient),
        (None, false, ErrorKind::Invalid),
    ];
    for (code, server_error, kind) in cases {
        assert_eq!(
            kind_of(code, server_error),
            kind,
            "{code:?} (5xx: {server_error})"
        );
    }
}

#[test]
fn a_limit_code_that_means_a_request_rate_is_a_throttle_where_the_caller_says_so() {
    use aws_sdk_kinesis::operation::list_tags_for_stream::ListTagsForStreamError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    let error = SdkError::service_error(
        ListTagsForStreamError::generic(ErrorMetadata::builder().code("LimitExceededException").build()),
        Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
    );
    let plain = classify("ListTagsForStream", "clickstream", &error);
    let rated = classify_with(
        "ListTagsForStream",
        "clickstream",
        &error,
        &["LimitExceededException"],
    );
    assert_eq!(
        (plain.kind, rated.kind),
        (ErrorKind::Refused, ErrorKind::Throttled)
    );
    assert!(!plain.outcome_unknown, "AWS answered: nothing was carried out");

    let server = SdkError::service_error(
        ListTagsForStreamError::generic(ErrorMetadata::builder().code("InternalFailure").build()),
        Response::new(StatusCode::try_from(500).unwrap(), SdkBody::empty()),
    );
    assert!(classify("UpdateShardCount", "clickstream", &server).outcome_unknown);
}
