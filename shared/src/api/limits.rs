//! What AWS says about API request rates, with sources in docs/api-throttles.md: which error
//! codes mean a throttle, which KMS calls share a quota, and the quotas unthrottle knows.

use crate::core::plan::Quota;

/// CloudTrail `errorCode`s that mean a request rate was exceeded, on any service.
pub const THROTTLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "Client.RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
];

/// `LimitExceededException` is usually a resource count; only where the API's own reference
/// says it is a request rate does it count: Kinesis's describe and list calls ("Rate exceeded
/// for stream"), the calls whose names start with these.
pub const RATE_LIMIT_EXCEEDED: &str = "LimitExceededException";
pub const RATE_LIMIT_EXCEEDED_SOURCE: &str = "kinesis.amazonaws.com";
pub const RATE_LIMIT_EXCEEDED_CALLS: &[&str] = &["Describe", "List"];

/// KMS cryptographic operations that share the symmetric family's request quota with a
/// symmetric or HMAC key (KMS Developer Guide, "Request quotas"). The same Decrypt, Encrypt
/// or ReEncrypt with an RSA or SM2 key counts against that family's quota instead: the
/// record's `encryptionAlgorithm` says which.
pub const KMS_SYMMETRIC_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateRandom",
    "ReEncrypt",
    "GenerateMac",
    "VerifyMac",
];

/// KMS cryptographic operations whose family (RSA, ECC, SM2, key pairs) depends on the key.
pub const KMS_OTHER_CRYPTOGRAPHIC_OPERATIONS: &[&str] = &[
    "Sign",
    "Verify",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "DeriveSharedSecret",
];

/// KMS calls that change one key's state: a burst or steady volley of them on the same key
/// is throttled even below their request quota (the "hot key" of the KMS guide's
/// "Throttling AWS KMS requests"). Grants, tags and aliases have request quotas of their own.
pub const KMS_KEY_STATE_CHANGES: &[&str] = &[
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "RotateKeyOnDemand",
];

/// SSM Parameter Store reads whose throughput the paid "higher throughput" setting raises.
pub const SSM_PARAMETER_READS: &[&str] = &["GetParameter", "GetParameters", "GetParametersByPath"];

/// The `AWS/Usage` family KMS's symmetric operations are counted under.
pub const KMS_SYMMETRIC_FAMILY: &str = "CryptographicOperationsSymmetric";

/// KMS's symmetric cryptographic request rate, per account and region (AWS KMS Developer
/// Guide, "Request quotas"; the code from ../shared/aws-facts.md).
pub const KMS_SYMMETRIC_QUOTA: Quota = Quota {
    service_code: "kms",
    quota_code: "L-6E3AF000",
    quota_name: "Cryptographic operations (symmetric) request rate",
};

/// A quota unthrottle may name, and whether its code was confirmed against AWS's own page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownQuota {
    pub quota: Quota,
    /// The `AWS/Usage` resource (operation family) its usage alarm watches, if any.
    pub family: Option<&'static str>,
    pub confirmed: bool,
    /// Whether api-throttle may ask to raise it: a confirmed code that an AWS-sourced signal
    /// (a CloudTrail throttle, a usage alarm) names. A `Quota Pressure` event, which any
    /// principal allowed to put events on the bus can send, never raises one alone.
    pub may_raise: bool,
}

/// The quotas unthrottle names; of them, only those with `may_raise` may it ever ask to
/// raise.
pub const KNOWN_QUOTAS: &[KnownQuota] = &[
    KnownQuota {
        quota: KMS_SYMMETRIC_QUOTA,
        family: Some(KMS_SYMMETRIC_FAMILY),
        confirmed: true,
        may_raise: true,
    },
    KnownQuota {
        quota: Quota {
            service_code: "kms",
            quota_code: "L-2AC98190",
            quota_name: "Cryptographic operations (RSA) request rate",
        },
        family: Some("CryptographicOperationsRsa"),
        confirmed: false,
        may_raise: false,
    },
    KnownQuota {
        quota: Quota {
            service_code: "kms",
            quota_code: "L-DC14942D",
            quota_name: "Cryptographic operations (ECC) request rate",
        },
        family: Some("CryptographicOperationsEcc"),
        confirmed: false,
        may_raise: false,
    },
    KnownQuota {
        quota: crate::dynamodb::limits::TABLE_READ_QUOTA,
        family: None,
        confirmed: true,
        may_raise: false,
    },
    KnownQuota {
        quota: crate::dynamodb::limits::TABLE_WRITE_QUOTA,
        family: None,
        confirmed: true,
        may_raise: false,
    },
    KnownQuota {
        quota: crate::kinesis::limits::SHARD_QUOTA,
        family: None,
        confirmed: true,
        may_raise: false,
    },
];

/// The known quota with this code.
pub fn known_quota(code: &str) -> Option<&'static KnownQuota> {
    KNOWN_QUOTAS.iter().find(|known| known.quota.quota_code == code)
}

/// The known quota an `AWS/Usage` family is counted against.
pub fn family_quota(family: &str) -> Option<&'static KnownQuota> {
    KNOWN_QUOTAS.iter().find(|known| known.family == Some(family))
}
