//! Any AWS API that says "Rate exceeded": which case a throttle is ([`trigger`], the pure
//! [`planner`]), what AWS says about request rates and quotas ([`limits`]), the function's
//! settings ([`settings`]) and its adapter ([`aws`]), which counts callers in the ledger.
//! No API has a capacity knob: the result names the caller and what to do.

pub mod aws;
pub mod limits;
pub mod model;
pub mod planner;
pub mod settings;
pub mod trigger;

pub use aws::{Apis, Quotas, SdkQuotas, SdkSettings, Settings};
pub use model::{
    ApiChange, ApiSignal, ApiState, ApiTarget, CallerCount, Callers, HIGH_THROUGHPUT_SETTING, Pattern,
    QuotaRequest, QuotaState, REQUEST_QUOTA_INCREASE, SettingState, UPDATE_SERVICE_SETTING,
};
pub use settings::Api;
