//! unifiedorder, orderquery and closeorder. `return_code` (did WeChat take the call),
//! `result_code` (did the business succeed) and `err_code` are kept apart, and every reply
//! that says SUCCESS must carry a valid signature.

use super::sign::{self, SignType};
use super::xml::{self, Fields};
use super::{beijing_time, TradeType, WechatConfig};
use crate::channel::{ChannelError, ChannelId, CredentialCheck};
use crate::domain::random_string;
use chrono::NaiveDateTime;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WechatError {
    /// No answer: connection refused, timeout, a non-200 status.
    #[error("WeChat Pay did not answer: {0}")]
    Transport(String),
    /// An answer we cannot trust or read: bad XML, a missing or wrong signature.
    #[error("WeChat Pay answered something invalid: {0}")]
    InvalidReply(String),
    /// `return_code=FAIL`: WeChat refused the call itself (e.g. a bad signature, missing appid).
    #[error("WeChat Pay refused the call: {0}")]
    ReturnFail(String),
    /// `result_code=FAIL`: WeChat took the call and said no.
    #[error("WeChat Pay said {err_code}: {err_code_des}")]
    Business {
        err_code: String,
        err_code_des: String,
    },
}

impl From<WechatError> for ChannelError {
    fn from(e: WechatError) -> ChannelError {
        let channel = ChannelId::Wechat;
        match e {
            WechatError::Transport(detail) => ChannelError::Transport { channel, detail },
            WechatError::InvalidReply(detail) => ChannelError::InvalidReply { channel, detail },
            WechatError::ReturnFail(message) => ChannelError::Refused { channel, message },
            WechatError::Business {
                err_code,
                err_code_des,
            } => ChannelError::Business {
                channel,
                code: err_code,
                message: err_code_des,
            },
        }
    }
}

impl WechatError {
    pub fn err_code(&self) -> Option<&str> {
        match self {
            WechatError::Business { err_code, .. } => Some(err_code),
            _ => None,
        }
    }
}

pub struct UnifiedOrder<'a> {
    pub out_trade_no: &'a str,
    pub body: &'a str,
    pub total_fee: i64,
    pub trade_type: TradeType,
    pub notify_url: &'a str,
    /// UTC; sent in Beijing time so WeChat itself stops taking money then.
    pub time_expire: NaiveDateTime,
    pub spbill_create_ip: &'a str,
    /// NATIVE: required by WeChat.
    pub product_id: Option<&'a str>,
    /// JSAPI: required by WeChat.
    pub openid: Option<&'a str>,
    /// MWEB: required by WeChat (JSON `{"h5_info": …}`).
    pub scene_info: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepay {
    pub prepay_id: String,
    pub code_url: Option<String>,
    pub mweb_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeQuery {
    /// SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR
    pub trade_state: String,
    pub transaction_id: Option<String>,
    pub total_fee: Option<i64>,
    pub time_end: Option<String>,
    /// Every field of the verified reply.
    pub fields: Fields,
}

pub struct WechatClient {
    http: reqwest::Client,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    config: WechatConfig,
}

impl WechatClient {
    pub fn new(
        config: WechatConfig,
        http: reqwest::Client,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> WechatClient {
        WechatClient {
            http,
            config,
            metrics,
        }
    }

    /// The client every outbound call uses: rustls, short connect timeout, bounded total time,
    /// no redirects (neither WeChat nor a merchant gets to send us elsewhere).
    pub fn http_client() -> reqwest::Client {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .expect("the HTTP client builds")
    }

    pub fn config(&self) -> &WechatConfig {
        &self.config
    }

    pub async fn unified_order(&self, order: &UnifiedOrder<'_>) -> Result<Prepay, WechatError> {
        let mut fields = Fields::new();
        let mut put = |k: &str, v: &str| {
            fields.insert(k.to_owned(), v.to_owned());
        };
        put("body", order.body);
        put("out_trade_no", order.out_trade_no);
        put("total_fee", &order.total_fee.to_string());
        put("spbill_create_ip", order.spbill_create_ip);
        put("notify_url", order.notify_url);
        put("trade_type", order.trade_type.as_str());
        put("time_expire", &beijing_time(order.time_expire));
        put("fee_type", "CNY");
        if let Some(v) = order.product_id {
            put("product_id", v);
        }
        if let Some(v) = order.openid {
            put("openid", v);
        }
        if let Some(v) = order.scene_info {
            put("scene_info", v);
        }
        let reply = self.call("/pay/unifiedorder", fields).await?;
        let prepay_id = reply
            .get("prepay_id")
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| WechatError::InvalidReply("no prepay_id in the reply".into()))?;
        let code_url = reply.get("code_url").filter(|v| !v.is_empty()).cloned();
        if order.trade_type == TradeType::Native && code_url.is_none() {
            return Err(WechatError::InvalidReply(
                "no code_url in a NATIVE reply".into(),
            ));
        }
        Ok(Prepay {
            prepay_id,
            code_url,
            mweb_url: reply.get("mweb_url").filter(|v| !v.is_empty()).cloned(),
        })
    }

    pub async fn order_query(&self, out_trade_no: &str) -> Result<TradeQuery, WechatError> {
        let mut fields = Fields::new();
        fields.insert("out_trade_no".into(), out_trade_no.into());
        let reply = self.call("/pay/orderquery", fields).await?;
        let trade_state = reply
            .get("trade_state")
            .cloned()
            .ok_or_else(|| WechatError::InvalidReply("no trade_state in the reply".into()))?;
        Ok(TradeQuery {
            trade_state,
            transaction_id: reply
                .get("transaction_id")
                .filter(|v| !v.is_empty())
                .cloned(),
            total_fee: reply.get("total_fee").and_then(|v| v.parse().ok()),
            time_end: reply.get("time_end").filter(|v| !v.is_empty()).cloned(),
            fields: reply,
        })
    }

    /// Verifies the configured account without money: an orderquery for an order that cannot
    /// exist. WeChat answers `ORDERNOTEXIST` only to a call whose appid, mch_id and signature
    /// it accepted (and signs that answer with the same key).
    pub async fn check_credentials(&self) -> CredentialCheck {
        let probe = format!("PCCHECK{}", crate::domain::random_string(20));
        match self.order_query(&probe).await {
            Ok(_) => CredentialCheck::Accepted,
            Err(e) if e.err_code() == Some("ORDERNOTEXIST") => CredentialCheck::Accepted,
            Err(WechatError::Transport(e)) => CredentialCheck::Unreachable(e),
            Err(e) => CredentialCheck::Refused(e.to_string()),
        }
    }

    pub async fn close_order(&self, out_trade_no: &str) -> Result<(), WechatError> {
        let mut fields = Fields::new();
        fields.insert("out_trade_no".into(), out_trade_no.into());
        self.call("/pay/closeorder", fields).await.map(|_| ())
    }

    /// Adds appid, mch_id, nonce_str, sign_type and sign; posts; checks the reply.
    async fn call(&self, path: &str, mut fields: Fields) -> Result<Fields, WechatError> {
        let config = &self.config;
        fields.insert("appid".into(), config.app_id.clone());
        fields.insert("mch_id".into(), config.mch_id.clone());
        fields.insert("nonce_str".into(), random_string(32));
        if config.sign_type == SignType::HmacSha256 {
            fields.insert("sign_type".into(), config.sign_type.as_str().into());
        }
        let signature = sign::sign(&fields, &config.api_key, config.sign_type);
        fields.insert("sign".into(), signature);

        let url = format!("{}{}", config.api_base, path);
        let started = std::time::Instant::now();
        let reply = self.post(path, &url, &fields).await;
        self.metrics.observe(
            "payment_center_channel_call_duration_seconds",
            &[("call", path.trim_start_matches("/pay/"))],
            started.elapsed(),
        );
        check_reply(reply?, config)
    }

    /// Posts the signed fields and decodes the answer; no rule is applied yet.
    async fn post(&self, path: &str, url: &str, fields: &Fields) -> Result<Fields, WechatError> {
        let response = self
            .http
            .post(url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(xml::encode_map(fields))
            .send()
            .await
            .map_err(|e| WechatError::Transport(format!("{path}: {e}")))?;
        if !response.status().is_success() {
            return Err(WechatError::Transport(format!(
                "{path}: HTTP {}",
                response.status()
            )));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| WechatError::Transport(format!("{path}: {e}")))?;
        xml::decode(&body).map_err(|e| WechatError::InvalidReply(e.to_string()))
    }
}

/// Applies the v2 rules to a decoded reply, in their order: `return_code`, the signature,
/// `result_code` / `err_code`.
pub fn check_reply(reply: Fields, config: &WechatConfig) -> Result<Fields, WechatError> {
    let get = |k: &str| reply.get(k).map(String::as_str).unwrap_or("");
    if get("return_code") != "SUCCESS" {
        let msg = match get("return_msg") {
            "" => "no return_msg".to_owned(),
            msg => msg.to_owned(),
        };
        return Err(WechatError::ReturnFail(msg));
    }
    if !sign::verify(&reply, &config.api_key, config.sign_type) {
        return Err(WechatError::InvalidReply(
            "the reply's signature does not verify".into(),
        ));
    }
    if get("appid") != config.app_id || get("mch_id") != config.mch_id {
        return Err(WechatError::InvalidReply(
            "the reply is for another appid or mch_id".into(),
        ));
    }
    if get("result_code") != "SUCCESS" {
        return Err(WechatError::Business {
            err_code: match get("err_code") {
                "" => "FAIL".to_owned(),
                code => code.to_owned(),
            },
            err_code_des: get("err_code_des").to_owned(),
        });
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::wechat::{SANDBOX_API_KEY, SANDBOX_APP_ID, SANDBOX_MCH_ID};

    fn config() -> WechatConfig {
        WechatConfig {
            app_id: SANDBOX_APP_ID.into(),
            mch_id: SANDBOX_MCH_ID.into(),
            api_key: SANDBOX_API_KEY.into(),
            api_base: "http://unused".into(),
            sign_type: SignType::Md5,
        }
    }

    fn signed(pairs: &[(&str, &str)]) -> Fields {
        let mut fields: Fields = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        fields.insert("appid".into(), SANDBOX_APP_ID.into());
        fields.insert("mch_id".into(), SANDBOX_MCH_ID.into());
        let s = sign::sign(&fields, SANDBOX_API_KEY, SignType::Md5);
        fields.insert("sign".into(), s);
        fields
    }

    #[test]
    fn return_fail_is_not_a_business_answer() {
        let reply = [("return_code", "FAIL"), ("return_msg", "签名错误")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            check_reply(reply, &config()),
            Err(WechatError::ReturnFail("签名错误".into()))
        );
    }

    #[test]
    fn result_fail_carries_err_code() {
        let reply = signed(&[
            ("return_code", "SUCCESS"),
            ("result_code", "FAIL"),
            ("err_code", "ORDERPAID"),
            ("err_code_des", "该订单已支付"),
        ]);
        let err = check_reply(reply, &config()).unwrap_err();
        assert_eq!(err.err_code(), Some("ORDERPAID"));
    }

    #[test]
    fn a_success_without_a_valid_signature_is_refused() {
        let mut reply = signed(&[("return_code", "SUCCESS"), ("result_code", "SUCCESS")]);
        reply.insert("prepay_id".into(), "injected".into());
        assert!(matches!(
            check_reply(reply, &config()),
            Err(WechatError::InvalidReply(_))
        ));
        let ok = signed(&[("return_code", "SUCCESS"), ("result_code", "SUCCESS")]);
        assert!(check_reply(ok, &config()).is_ok());
    }

    #[test]
    fn a_reply_for_another_merchant_is_refused() {
        let mut fields: Fields = [("return_code", "SUCCESS"), ("result_code", "SUCCESS")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        fields.insert("appid".into(), "wxother".into());
        fields.insert("mch_id".into(), SANDBOX_MCH_ID.into());
        let s = sign::sign(&fields, SANDBOX_API_KEY, SignType::Md5);
        fields.insert("sign".into(), s);
        assert!(matches!(
            check_reply(fields, &config()),
            Err(WechatError::InvalidReply(_))
        ));
    }
}
