//! SDK errors into the core's [`Error`], classified once for every client: the kind comes
//! from the SDK's error shape and the AWS error code, the message from the error's chain.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::core::error::{Error, ErrorKind};

/// The core error for a failed SDK call of `operation` on `resource`.
pub fn classify<E>(operation: &str, resource: &str, error: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    classify_with(operation, resource, error, &[])
}

/// As [`classify`], with codes that mean a request rate for this call (`Throttled`) whatever
/// they mean elsewhere: Kinesis answers its describe and list calls' rate limits with
/// `LimitExceededException`, which on UpdateShardCount is a real refusal.
pub fn classify_with<E>(
    operation: &str,
    resource: &str,
    error: &SdkError<E, HttpResponse>,
    rate_limit_codes: &[&str],
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, outcome_unknown) = match error {
        SdkError::ServiceError(service) => {
            let server_error = service.raw().status().is_server_error();
            let code = service.err().code();
            let kind = match code {
                Some(code) if rate_limit_codes.contains(&code) => ErrorKind::Throttled,
                _ => kind_of(code, server_error),
            };
            // AWS answered: a 4xx was not carried out; a 5xx may have been.
            (kind, server_error)
        }
        SdkError::ConstructionFailure(_) => (ErrorKind::Invalid, false),
        // Timeouts, connection failures and unreadable responses: the call may work again,
        // and may have worked already.
        _ => (ErrorKind::Transient, true),
    };
    let classified = Error::new(kind, operation, resource, describe_error(error));
    if outcome_unknown {
        classified.with_unknown_outcome()
    } else {
        classified
    }
}

/// The kind an AWS error code means. Codes differ between services for the same thing;
/// an unknown code is transient on a 5xx and invalid otherwise.
pub fn kind_of(code: Option<&str>, server_error: bool) -> ErrorKind {
    match code.unwrap_or_default() {
        "ThrottlingException"
        | "Throttling"
        | "ThrottledException"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "SlowDown" => ErrorKind::Throttled,
        "ResourceNotFoundException"
        | "NoSuchBucket"
        | "NoSuchKey"
        | "NotFound"
        | "TableNotFoundException"
        | "NoSuchResourceException" => ErrorKind::NotFound,
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "MissingAuthenticationToken"
        | "OptInRequired"
        | "DependencyAccessDeniedException" => ErrorKind::AccessDenied,
        // DynamoDB: too many table operations or decreases; Kinesis: shard and update limits;
        // Service Quotas: too many open requests, one open for the quota already, or a
        // quota that cannot take one now.
        "LimitExceededException"
        | "QuotaExceededException"
        | "ResourceAlreadyExistsException"
        | "InvalidResourceStateException" => ErrorKind::Refused,
        // Another update is in progress: it ends on its own. Credentials that expired
        // mid-invocation are fresh on the retry.
        "ResourceInUseException"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "InternalServerError"
        | "InternalFailure"
        | "InternalServerException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "ServiceException" => ErrorKind::Transient,
        _ if server_error => ErrorKind::Transient,
        _ => ErrorKind::Invalid,
    }
}

/// The error and its chain of causes, e.g. "service error: LimitExceededException: ...".
/// (The SDK's DisplayErrorContext also appends the Debug form, raw response included,
/// which buries the message a human needs.)
pub fn describe_error<E: std::error::Error>(error: &E) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[path = "errors_tests.rs"]
mod tests;
