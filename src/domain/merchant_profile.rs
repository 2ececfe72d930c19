//! A merchant as the rest of the service sees it, once authenticated (or read by the webhook
//! worker): never its API key.

use super::{NotifySecret, ReturnUrlPrefix};

#[derive(Debug, Clone)]
pub struct MerchantProfile {
    pub id: String,
    pub name: String,
    pub notify_secret: NotifySecret,
    pub return_url_prefixes: Vec<ReturnUrlPrefix>,
}
