use crate::api::RefusalSampler;
use crate::cache::Cache;
use crate::channel::wechat::{CredentialCheck, WechatClient};
use crate::config::PaymentMode;
use crate::db::DbPool;
use crate::workers::WorkerStatus;
use std::sync::Arc;
use tokio::sync::Notify;

/// What every handler and worker shares.
pub struct AppState {
    pub pool: DbPool,
    pub cache: Cache,
    /// No trailing slash; checkout and notify URLs are built from it.
    pub public_base_url: String,
    pub wechat: Arc<WechatClient>,
    /// `<PUBLIC_BASE_URL>/notify/wechat`: where WeChat posts payment results.
    pub notify_url: String,
    /// The server IP WeChat asks for with NATIVE payments.
    pub spbill_create_ip: String,
    /// The built-in sandbox is mounted (the cashier offers "simulate payment").
    pub sandbox_enabled: bool,
    /// Wakes the webhook worker when an event is written.
    pub webhook_wakeup: Arc<Notify>,
    /// Sandbox or live: every order made here carries it (`livemode`).
    pub mode: PaymentMode,
    /// The background workers by name, for `/readyz`.
    pub workers: Vec<(&'static str, Arc<WorkerStatus>)>,
    /// Which unauthenticated notifies are kept for operators (a few a minute).
    pub refused_notifies: RefusalSampler,
    /// `GET /openapi.json`, with this installation's base URL as its server.
    pub openapi_json: actix_web::web::Bytes,
    /// What the live start's check of the WeChat account found (`/readyz`).
    pub wechat_check: Arc<std::sync::Mutex<CredentialCheck>>,
}

impl AppState {
    pub fn livemode(&self) -> bool {
        self.mode.is_live()
    }
}
