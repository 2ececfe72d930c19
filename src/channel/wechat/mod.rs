//! WeChat Pay v2: signatures, the XML codec, the API client. Written once and used by the
//! client, the notify handler and the sandbox alike.

pub mod adapter;
pub mod client;
pub mod notify;
pub mod pay_params;
pub mod sandbox;
pub mod sign;
pub mod xml;

pub use adapter::WechatChannel;
pub use client::{Prepay, TradeQuery, UnifiedOrder, WechatClient, WechatError};
pub use sign::SignType;

use chrono::{Duration, NaiveDateTime};
use std::fmt;

/// The credentials in WeChat's own documentation; the sandbox's merchant account.
pub const SANDBOX_APP_ID: &str = "wxd930ea5d5a258f4f";
pub const SANDBOX_MCH_ID: &str = "10000100";
pub const SANDBOX_API_KEY: &str = "192006250b4c09247ec02edce69f6a2d";
pub const PRODUCTION_API_BASE: &str = "https://api.mch.weixin.qq.com";

/// The merchant account at WeChat Pay, and where its API is.
#[derive(Clone)]
pub struct WechatConfig {
    pub app_id: String,
    pub mch_id: String,
    pub api_key: String,
    /// No trailing slash: `https://api.mch.weixin.qq.com` or `http://…/sandbox/wechat`.
    pub api_base: String,
    pub sign_type: SignType,
}

impl fmt::Debug for WechatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatConfig")
            .field("app_id", &self.app_id)
            .field("mch_id", &self.mch_id)
            .field("api_key", &"<redacted>")
            .field("api_base", &crate::http::redact_url(&self.api_base))
            .field("sign_type", &self.sign_type)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeType {
    Native,
    Jsapi,
    Mweb,
    App,
}

impl TradeType {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeType::Native => "NATIVE",
            TradeType::Jsapi => "JSAPI",
            TradeType::Mweb => "MWEB",
            TradeType::App => "APP",
        }
    }

    pub fn parse(s: &str) -> Option<TradeType> {
        match s {
            "NATIVE" => Some(TradeType::Native),
            "JSAPI" => Some(TradeType::Jsapi),
            "MWEB" => Some(TradeType::Mweb),
            "APP" => Some(TradeType::App),
            _ => None,
        }
    }
}

/// WeChat's times are Beijing time (UTC+8) as `yyyyMMddHHmmss`.
pub fn beijing_time(utc: NaiveDateTime) -> String {
    (utc + Duration::hours(8))
        .format("%Y%m%d%H%M%S")
        .to_string()
}

pub fn parse_beijing_time(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S")
        .ok()
        .map(|t| t - Duration::hours(8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn beijing_time_is_utc_plus_eight() {
        let utc = NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(20, 13, 19)
            .unwrap();
        assert_eq!(beijing_time(utc), "20261123041319");
        assert_eq!(parse_beijing_time("20261123041319"), Some(utc));
        assert_eq!(parse_beijing_time("2026-11-23"), None);
    }

    #[test]
    fn debug_hides_the_api_key() {
        let config = WechatConfig {
            app_id: SANDBOX_APP_ID.into(),
            mch_id: SANDBOX_MCH_ID.into(),
            api_key: SANDBOX_API_KEY.into(),
            api_base: PRODUCTION_API_BASE.into(),
            sign_type: SignType::Md5,
        };
        assert!(!format!("{config:?}").contains(SANDBOX_API_KEY));
    }
}
