//! What every handler and worker shares: the application's state, one per application.

use crate::cache::Cache;
use crate::channel::{ChannelId, Channels, CredentialCheck};
use crate::core::effects::EffectTargets;
use crate::core::notify::RefusalSampler;
use crate::core::AppSnapshots;
use crate::db::DbPool;
use crate::domain::PaymentMode;
use crate::workers::WorkerStatus;
use std::sync::Arc;
use tokio::sync::Notify;

/// What every handler and worker shares.
pub struct AppState {
    pub pool: DbPool,
    pub cache: Arc<Cache>,
    /// Order views and merchants kept a moment: this application's own.
    pub snapshots: Arc<AppSnapshots>,
    /// This application's metrics (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// No trailing slash; checkout and notify URLs are built from it.
    pub public_base_url: String,
    /// The configured channels (sandbox or live).
    pub channels: Channels,
    /// The channels whose built-in sandbox is mounted here (the cashier offers "simulate").
    pub sandboxes: Vec<ChannelId>,
    /// Wakes the webhook worker when an event is written.
    pub webhook_wakeup: Arc<Notify>,
    /// Sandbox or live: every order made here carries it (`livemode`).
    pub mode: PaymentMode,
    /// The background workers by name, for `/readyz`.
    pub workers: Vec<(&'static str, Arc<WorkerStatus>)>,
    /// Payments reported by notifies, recorded in batches (group commit).
    pub payment_batches: crate::core::payment_batches::PaymentBatches,
    /// Which unauthenticated notifies are kept for operators (a few a minute).
    pub refused_notifies: RefusalSampler,
    /// `GET /openapi.json`, with this installation's base URL as its server.
    pub openapi_json: actix_web::web::Bytes,
    /// What the live start's check of each channel's account found (`/readyz`).
    pub credential_checks: Vec<(ChannelId, Arc<std::sync::Mutex<CredentialCheck>>)>,
}

impl AppState {
    pub fn has_sandbox(&self, channel: ChannelId) -> bool {
        self.sandboxes.contains(&channel)
    }

    pub fn livemode(&self) -> bool {
        self.mode.is_live()
    }

    /// Where the effects of a state change land.
    pub fn effect_targets(&self) -> EffectTargets {
        EffectTargets {
            webhook_wakeup: self.webhook_wakeup.clone(),
            cache: self.cache.clone(),
            snapshots: self.snapshots.clone(),
            metrics: self.metrics.clone(),
        }
    }
}
