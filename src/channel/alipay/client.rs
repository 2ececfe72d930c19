//! The Alipay Open Platform gateway: every request signed RSA2 with the app's private key,
//! every synchronous answer verified with Alipay's public key over the exact `*_response`
//! text before anything is read from it. `code` 10000 is success; anything else is Alipay's
//! `sub_code` / `sub_msg`.

use super::amount::{parse_yuan, to_yuan};
use super::form;
use super::sign::{self, PrivateKey, PublicKey};
use super::{beijing_time, parse_beijing_time};
use crate::channel::{ChannelError, ChannelId, CredentialCheck};
use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub const PRODUCTION_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";
/// Larger than any answer Alipay gives to the calls made here.
const MAX_ANSWER: usize = 64 * 1024;

/// The app at Alipay Open Platform, and where its gateway is.
#[derive(Clone)]
pub struct AlipayConfig {
    pub app_id: String,
    pub app_private_key: Arc<PrivateKey>,
    pub alipay_public_key: PublicKey,
    /// When set, notifies must carry it as `seller_id`.
    pub seller_id: Option<String>,
    /// `https://openapi.alipay.com/gateway.do` or `http://…/sandbox/alipay/gateway.do`.
    pub gateway: String,
}

impl fmt::Debug for AlipayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayConfig")
            .field("app_id", &self.app_id)
            .field("app_private_key", &"<redacted>")
            .field("seller_id", &self.seller_id)
            .field("gateway", &crate::http::redact_url(&self.gateway))
            .finish()
    }
}

fn transport(detail: String) -> ChannelError {
    ChannelError::Transport {
        channel: ChannelId::Alipay,
        detail,
    }
}

fn invalid(detail: impl Into<String>) -> ChannelError {
    ChannelError::InvalidReply {
        channel: ChannelId::Alipay,
        detail: detail.into(),
    }
}

/// A trade as `alipay.trade.query` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueriedTrade {
    /// WAIT_BUYER_PAY, TRADE_CLOSED, TRADE_SUCCESS, TRADE_FINISHED.
    pub trade_status: String,
    pub trade_no: Option<String>,
    /// Fen.
    pub total_amount: Option<i64>,
    pub paid_at: Option<NaiveDateTime>,
}

pub struct AlipayClient {
    http: reqwest::Client,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    config: AlipayConfig,
}

impl AlipayClient {
    pub fn new(
        config: AlipayConfig,
        http: reqwest::Client,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> AlipayClient {
        AlipayClient {
            http,
            config,
            metrics,
        }
    }

    pub fn config(&self) -> &AlipayConfig {
        &self.config
    }

    /// The signed parameters of a gateway request.
    pub fn signed_params(
        &self,
        method: &str,
        biz_content: &Value,
        extra: &[(&str, &str)],
        now: NaiveDateTime,
    ) -> BTreeMap<String, String> {
        let mut params: BTreeMap<String, String> = [
            ("app_id", self.config.app_id.as_str()),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("version", "1.0"),
        ]
        .iter()
        .chain(extra)
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        params.insert("timestamp".into(), beijing_time(now));
        params.insert("biz_content".into(), biz_content.to_string());
        let signature = self
            .config
            .app_private_key
            .sign(sign::request_string_to_sign(&params).as_bytes());
        params.insert("sign".into(), signature);
        params
    }

    /// A signed gateway URL the shopper's browser opens (page and wap pay: the trade is made
    /// at Alipay when the shopper arrives).
    pub fn gateway_url(&self, params: &BTreeMap<String, String>) -> String {
        format!("{}?{}", self.config.gateway, form::encode(params))
    }

    /// `alipay.trade.precreate`: the QR code a shopper scans.
    pub async fn precreate(
        &self,
        out_trade_no: &str,
        amount: i64,
        subject: &str,
        time_expire: NaiveDateTime,
        notify_url: &str,
    ) -> Result<String, ChannelError> {
        let biz = json!({
            "out_trade_no": out_trade_no,
            "total_amount": to_yuan(amount),
            "subject": subject,
            "time_expire": beijing_time(time_expire),
        });
        let answer = self
            .call(
                "alipay.trade.precreate",
                &biz,
                &[("notify_url", notify_url)],
            )
            .await?;
        answer
            .get("qr_code")
            .and_then(Value::as_str)
            .filter(|q| !q.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| invalid("no qr_code in the precreate answer"))
    }

    pub async fn query(&self, out_trade_no: &str) -> Result<QueriedTrade, ChannelError> {
        let answer = self
            .call(
                "alipay.trade.query",
                &json!({ "out_trade_no": out_trade_no }),
                &[],
            )
            .await?;
        let text = |k: &str| {
            answer
                .get(k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let trade_status = text("trade_status")
            .ok_or_else(|| invalid("no trade_status in the query answer"))?
            .to_owned();
        Ok(QueriedTrade {
            trade_status,
            trade_no: text("trade_no").map(str::to_owned),
            total_amount: text("total_amount").and_then(parse_yuan),
            paid_at: text("send_pay_date").and_then(parse_beijing_time),
        })
    }

    pub async fn close(&self, out_trade_no: &str) -> Result<(), ChannelError> {
        self.call(
            "alipay.trade.close",
            &json!({ "out_trade_no": out_trade_no }),
            &[],
        )
        .await
        .map(|_| ())
    }

    /// Verifies the configured app without money: a query for a trade that cannot exist.
    /// Alipay answers `ACQ.TRADE_NOT_EXIST`, signed, only to a request from an app it knows,
    /// signed with the key it holds for it.
    pub async fn check_credentials(&self) -> CredentialCheck {
        let probe = format!("PCCHECK{}", crate::domain::random_string(20));
        match self.query(&probe).await {
            Ok(_) => CredentialCheck::Accepted,
            Err(e) if e.code() == Some("ACQ.TRADE_NOT_EXIST") => CredentialCheck::Accepted,
            Err(ChannelError::Transport { detail, .. }) => CredentialCheck::Unreachable(detail),
            Err(e) => CredentialCheck::Refused(e.to_string()),
        }
    }

    /// Posts a signed request and answers the verified `*_response` object when its `code` is
    /// 10000.
    async fn call(
        &self,
        method: &str,
        biz_content: &Value,
        extra: &[(&str, &str)],
    ) -> Result<Map<String, Value>, ChannelError> {
        let params = self.signed_params(method, biz_content, extra, crate::domain::time::now());
        let started = std::time::Instant::now();
        let body = self.post(method, &params).await;
        self.metrics.observe(
            "payment_center_channel_call_duration_seconds",
            &[("call", method.trim_start_matches("alipay.trade."))],
            started.elapsed(),
        );
        check_answer(&body?, method, &self.config.alipay_public_key)
    }

    async fn post(
        &self,
        method: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<String, ChannelError> {
        let url = format!("{}?charset=utf-8", self.config.gateway);
        let response = self
            .http
            .post(url)
            .header(
                "Content-Type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(form::encode(params))
            .send()
            .await
            .map_err(|e| transport(format!("{method}: {e}")))?;
        if !response.status().is_success() {
            return Err(transport(format!("{method}: HTTP {}", response.status())));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport(format!("{method}: {e}")))?;
        if bytes.len() > MAX_ANSWER {
            return Err(invalid(format!(
                "{method}: an answer of {} bytes",
                bytes.len()
            )));
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| invalid("an answer that is not UTF-8"))
    }
}

/// Applies Alipay's rules to an answer, in their order: the signature over the exact
/// `*_response` text, then `code` / `sub_code`. An error Alipay does not sign (a request it
/// could not attribute: missing parameters, an unknown app) is a refusal of the call.
pub fn check_answer(
    body: &str,
    method: &str,
    alipay_public_key: &PublicKey,
) -> Result<Map<String, Value>, ChannelError> {
    let key = sign::response_key(method);
    let parsed: Value =
        serde_json::from_str(body).map_err(|_| invalid("an answer that is not JSON"))?;
    let signature = parsed.get("sign").and_then(Value::as_str).unwrap_or("");
    let Some(text) = sign::response_text(body, &key) else {
        // Only `error_response` (unsigned): the gateway refused to read the request.
        let error = parsed.get("error_response").and_then(Value::as_object);
        return Err(match error {
            Some(error) => refused(error),
            None => invalid(format!("no {key} in the answer")),
        });
    };
    let response: Map<String, Value> =
        serde_json::from_str(text).map_err(|_| invalid(format!("{key} is not a JSON object")))?;
    let code = response.get("code").and_then(Value::as_str).unwrap_or("");
    if signature.is_empty() {
        // Alipay signs every answer to a request it could attribute to the app; an unsigned
        // success is not Alipay's.
        return Err(if code == "10000" {
            invalid("an unsigned success")
        } else {
            refused(&response)
        });
    }
    if !alipay_public_key.verify(text.as_bytes(), signature) {
        return Err(invalid("the answer's signature does not verify"));
    }
    if code != "10000" {
        let text = |k: &str| response.get(k).and_then(Value::as_str).unwrap_or("");
        return Err(ChannelError::Business {
            channel: ChannelId::Alipay,
            code: match text("sub_code") {
                "" => code.to_owned(),
                sub_code => sub_code.to_owned(),
            },
            message: match text("sub_msg") {
                "" => text("msg").to_owned(),
                sub_msg => sub_msg.to_owned(),
            },
        });
    }
    Ok(response)
}

fn refused(error: &Map<String, Value>) -> ChannelError {
    let text = |k: &str| error.get(k).and_then(Value::as_str).unwrap_or("");
    ChannelError::Refused {
        channel: ChannelId::Alipay,
        message: format!(
            "{} {}: {} {}",
            text("code"),
            text("msg"),
            text("sub_code"),
            text("sub_msg")
        )
        .trim()
        .to_owned(),
    }
}
