use crate::cache::Cache;
use crate::db::DbPool;
use crate::wechat::WechatClient;
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
}
