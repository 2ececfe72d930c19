//! What an opened trade gives the payer (a credential), and its copy in the cache: Redis or
//! in-process, until shortly before it expires, so a repeated request costs no channel call.
//! The database stays the truth: a cached credential is handed out only if it is still the
//! one stored with the order's open trade.

use crate::cache::Cache;
use crate::channel::{ChannelId, Product};
use crate::db::channel_trades::ChannelTrade;
use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A credential is handed out until this long before it expires, so a shopper never gets a
/// dead one.
pub const CREDENTIAL_MARGIN: Duration = Duration::seconds(60);

/// What a trade gives the payer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub out_trade_no: String,
    /// WeChat's prepay_id; Alipay's QR code, gateway URL or app order string.
    pub credential: String,
    /// What the shopper scans or opens (a QR code's text, a URL).
    pub pay_url: Option<String>,
    pub expires_at: NaiveDateTime,
}

impl Credential {
    pub fn is_fresh(&self, now: NaiveDateTime) -> bool {
        self.expires_at - CREDENTIAL_MARGIN > now
    }

    /// The stored trade's credential, once its channel answered.
    pub fn of(trade: &ChannelTrade) -> Option<Credential> {
        Some(Credential {
            out_trade_no: trade.out_trade_no.clone(),
            credential: trade.credential.clone()?,
            pay_url: trade.pay_url.clone(),
            expires_at: trade.credential_expires_at?,
        })
    }
}

pub fn cache_key(order_id: &str, channel: &str, product: &str, params: Option<&str>) -> String {
    let params = params.map_or_else(|| "-".to_owned(), |p| hex::encode(&Sha256::digest(p)[..8]));
    format!("credential:{order_id}:{channel}:{product}:{params}")
}

pub fn key_for(order_id: &str, channel: ChannelId, product: &Product) -> String {
    cache_key(
        order_id,
        channel.as_str(),
        product.as_str(),
        product.params().as_deref(),
    )
}

/// The cache key of a stored trade's credential.
pub fn key_of(trade: &ChannelTrade) -> String {
    cache_key(
        &trade.order_id,
        &trade.channel,
        &trade.product,
        trade.params.as_deref(),
    )
}

/// A fresh cached credential, if any; a cache that fails is logged and bypassed.
pub async fn cached(cache: &Cache, key: &str, now: NaiveDateTime) -> Option<Credential> {
    match cache.get(key).await {
        Ok(Some(value)) => serde_json::from_str::<Credential>(&value)
            .ok()
            .filter(|c| c.is_fresh(now)),
        Ok(None) => None,
        Err(e) => {
            log::warn!("cache unavailable, serving from the database: {e}");
            None
        }
    }
}

pub async fn remember(cache: &Cache, key: &str, credential: &Credential, now: NaiveDateTime) {
    let ttl = credential.expires_at - CREDENTIAL_MARGIN - now;
    if let (Ok(ttl), Ok(value)) = (ttl.to_std(), serde_json::to_string(credential)) {
        if let Err(e) = cache.set(key, &value, ttl).await {
            log::warn!("cache unavailable, credential kept in the database only: {e}");
        }
    }
}

/// A superseded or closed trade's credential must not be handed out again from the cache.
pub async fn forget(cache: &Cache, key: &str) {
    if let Err(e) = cache.delete(key).await {
        log::warn!("could not drop a cached credential ({key}): {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time;

    #[test]
    fn a_credential_is_stale_a_minute_before_it_expires() {
        let now = time::now();
        let credential = |secs| Credential {
            out_trade_no: String::new(),
            credential: String::new(),
            pay_url: None,
            expires_at: now + Duration::seconds(secs),
        };
        assert!(credential(61).is_fresh(now));
        assert!(!credential(60).is_fresh(now));
    }

    #[test]
    fn requests_with_other_parameters_have_other_cache_keys() {
        let a = Product::Jsapi {
            openid: "o1".into(),
        };
        let b = Product::Jsapi {
            openid: "o2".into(),
        };
        assert_ne!(
            key_for("PC1", ChannelId::Wechat, &a),
            key_for("PC1", ChannelId::Wechat, &b)
        );
        assert_eq!(
            key_for("PC1", ChannelId::Alipay, &Product::Qr),
            "credential:PC1:alipay:qr:-"
        );
    }
}
