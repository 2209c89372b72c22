use super::describe_error;

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
