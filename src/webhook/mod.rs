//! Telling merchants what happened to their orders: the outbox rows (written in the same
//! transaction as the state change), the signed form, and the delivery worker.

mod event;
mod form;
mod target;
mod worker;

pub use event::{new_event, EventType, Target};
pub use form::{signed_form, FORM_SIGN_TYPE};
pub use target::{delivery_client, describe, is_public, TargetPolicy, ATTEMPT_TIMEOUT};
pub use worker::{
    RetrySchedule, WebhookWorker, BREAKER_OPEN, BREAKER_THRESHOLD, PER_MERCHANT_IN_FLIGHT,
};
