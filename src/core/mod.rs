//! The payment center's rules, between the HTTP handlers and the stores.

pub mod attempts;
pub mod checkout;
pub mod credentials;
pub mod effects;
pub mod error;
pub mod legacy_logins;
pub mod lifecycle;
pub mod merchants;
pub mod notify;
pub mod order_state;
pub mod orders;
pub mod payment_batches;
pub mod snapshots;
pub mod state;
pub mod timeline;
pub mod webhook_endpoints;
pub mod webhooks;

pub use error::CoreError;
pub use state::AppState;

/// The application's order views and merchants, kept a moment (`snapshots`).
pub type AppSnapshots = snapshots::Snapshots<
    std::sync::Arc<checkout::OrderSnapshot>,
    std::sync::Arc<merchants::MerchantProfile>,
>;
