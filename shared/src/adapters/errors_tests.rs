use super::{describe_error, kind_of};
use crate::core::error::ErrorKind;

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
