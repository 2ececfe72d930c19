//! Alipay in the service's neutral terms: products to gateway methods, `trade_status` to
//! `TradeState`, `sub_code` to `Closing`, the form notify to a `ReportedPayment`.

use super::amount::{parse_yuan, to_yuan};
use super::client::AlipayClient;
use super::{beijing_time, form, parse_beijing_time, sign};
use crate::channel::{
    CallNames, Channel, ChannelError, ChannelId, Closing, CredentialCheck, Notified, NotifyAnswer,
    Opened, PaymentSource, Product, Rejection, RejectionKind, ReportedPayment, TradeRequest,
    TradeState,
};
use crate::domain::time;
use chrono::Duration;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::json;

/// A signed page / wap URL or app order string is handed out this long: Alipay refuses a
/// request whose `timestamp` is too old.
const SIGNED_REQUEST_LIFETIME: Duration = Duration::minutes(15);

pub struct AlipayChannel {
    client: AlipayClient,
    /// `<PUBLIC_BASE_URL>/notify/alipay`.
    notify_url: String,
}

impl AlipayChannel {
    pub fn new(client: AlipayClient, notify_url: String) -> AlipayChannel {
        AlipayChannel { client, notify_url }
    }

    pub fn client(&self) -> &AlipayClient {
        &self.client
    }

    async fn open_trade(&self, trade: &TradeRequest<'_>) -> Result<Opened, ChannelError> {
        let (method, product_code, return_url) = match trade.product {
            Product::Qr => {
                let qr_code = self
                    .client
                    .precreate(
                        trade.out_trade_no,
                        trade.amount,
                        trade.description,
                        trade.expires_at,
                        &self.notify_url,
                    )
                    .await?;
                return Ok(Opened {
                    credential: qr_code.clone(),
                    pay_url: Some(qr_code),
                    lifetime: Duration::hours(2),
                });
            }
            Product::Page { return_url } => (
                "alipay.trade.page.pay",
                "FAST_INSTANT_TRADE_PAY",
                return_url.as_deref(),
            ),
            Product::Wap { return_url } => (
                "alipay.trade.wap.pay",
                "QUICK_WAP_WAY",
                return_url.as_deref(),
            ),
            Product::App => ("alipay.trade.app.pay", "QUICK_MSECURITY_PAY", None),
            Product::Jsapi { .. } | Product::H5 { .. } => {
                return Err(ChannelError::Refused {
                    channel: ChannelId::Alipay,
                    message: format!("Alipay has no {} payment", trade.product.as_str()),
                })
            }
        };
        let biz = json!({
            "out_trade_no": trade.out_trade_no,
            "total_amount": to_yuan(trade.amount),
            "subject": trade.description,
            "product_code": product_code,
            "time_expire": beijing_time(trade.expires_at),
        });
        let mut extra = vec![("notify_url", self.notify_url.as_str())];
        if let Some(url) = return_url {
            extra.push(("return_url", url));
        }
        let params = self.client.signed_params(method, &biz, &extra, time::now());
        let (credential, pay_url) = match trade.product {
            // The app SDK takes the signed parameters themselves.
            Product::App => (form::encode(&params), None),
            _ => {
                let url = self.client.gateway_url(&params);
                (url.clone(), Some(url))
            }
        };
        Ok(Opened {
            credential,
            pay_url,
            lifetime: SIGNED_REQUEST_LIFETIME,
        })
    }

    async fn query_trade(&self, out_trade_no: &str) -> Result<TradeState, ChannelError> {
        let trade = match self.client.query(out_trade_no).await {
            Ok(trade) => trade,
            // Before the shopper scans or opens it, Alipay has no such trade.
            Err(e) if e.code() == Some("ACQ.TRADE_NOT_EXIST") => return Ok(TradeState::NotFound),
            Err(e) => return Err(e),
        };
        Ok(match trade.trade_status.as_str() {
            // TRADE_FINISHED: paid, and no longer refundable.
            "TRADE_SUCCESS" | "TRADE_FINISHED" => {
                let (Some(trade_no), Some(amount)) = (trade.trade_no, trade.total_amount) else {
                    return Err(ChannelError::InvalidReply {
                        channel: ChannelId::Alipay,
                        detail: "a paid trade without trade_no or total_amount".into(),
                    });
                };
                TradeState::Paid(ReportedPayment {
                    channel: ChannelId::Alipay,
                    out_trade_no: out_trade_no.to_owned(),
                    transaction_id: trade_no,
                    amount,
                    paid_at: trade.paid_at.unwrap_or_else(time::now),
                    source: PaymentSource::Query,
                })
            }
            // The shopper scanned and has not paid yet.
            "WAIT_BUYER_PAY" => TradeState::Paying,
            // Closed unpaid (a fully refunded trade closes too; refunds are not taken yet).
            "TRADE_CLOSED" => TradeState::Closed,
            other => {
                return Err(ChannelError::InvalidReply {
                    channel: ChannelId::Alipay,
                    detail: format!("unknown trade_status {other}"),
                })
            }
        })
    }

    async fn close_trade(&self, out_trade_no: &str) -> Result<Closing, ChannelError> {
        match self.client.close(out_trade_no).await {
            Ok(()) => Ok(Closing::Closed),
            Err(e) => match e.code() {
                Some("ACQ.TRADE_NOT_EXIST") => Ok(Closing::NotFound),
                Some("ACQ.TRADE_STATUS_ERROR") => Ok(Closing::AlreadyFinal),
                _ => Err(e),
            },
        }
    }
}

/// Checks a form-decoded notify, in the order that tells a forged or mistaken message apart
/// from a payment: who sent it, its signature over every field but `sign` and `sign_type`,
/// then what it says.
pub fn check_notify(
    fields: &std::collections::BTreeMap<String, String>,
    config: &super::AlipayConfig,
) -> Result<Notified, Rejection> {
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let refuse = |kind, reason: String| {
        let named = |k: &str| Some(get(k).to_owned()).filter(|v| !v.is_empty());
        Rejection {
            kind,
            reason,
            out_trade_no: named("out_trade_no"),
            transaction_id: named("trade_no"),
        }
    };
    for name in ["app_id", "sign"] {
        if get(name).is_empty() {
            return Err(refuse(
                RejectionKind::Forged,
                format!("missing {name}: not an Alipay notify"),
            ));
        }
    }
    if get("app_id") != config.app_id {
        return Err(refuse(
            RejectionKind::Account,
            format!("app_id {} is not ours", get("app_id")),
        ));
    }
    if get("sign_type") != "RSA2" {
        return Err(refuse(
            RejectionKind::Signature,
            format!("sign_type {:?} is not RSA2", get("sign_type")),
        ));
    }
    let signed = sign::notify_string_to_verify(fields);
    if !config
        .alipay_public_key
        .verify(signed.as_bytes(), get("sign"))
    {
        return Err(refuse(
            RejectionKind::Signature,
            "signature does not verify".into(),
        ));
    }
    if let Some(seller_id) = &config.seller_id {
        if get("seller_id") != seller_id {
            return Err(refuse(
                RejectionKind::Account,
                format!("seller_id {} is not ours", get("seller_id")),
            ));
        }
    }
    let status = get("trade_status");
    if !matches!(status, "TRADE_SUCCESS" | "TRADE_FINISHED") {
        return Ok(Notified::Nothing(format!("trade_status {status}")));
    }
    let (out_trade_no, trade_no) = (get("out_trade_no"), get("trade_no"));
    if out_trade_no.is_empty() || trade_no.is_empty() {
        return Err(refuse(
            RejectionKind::Other,
            "missing out_trade_no or trade_no".into(),
        ));
    }
    let amount = parse_yuan(get("total_amount"))
        .filter(|fen| *fen > 0)
        .ok_or_else(|| {
            refuse(
                RejectionKind::Amount,
                format!(
                    "total_amount {:?} is not an amount in yuan",
                    get("total_amount")
                ),
            )
        })?;
    Ok(Notified::Payment(ReportedPayment {
        channel: ChannelId::Alipay,
        out_trade_no: out_trade_no.to_owned(),
        transaction_id: trade_no.to_owned(),
        amount,
        paid_at: parse_beijing_time(get("gmt_payment")).unwrap_or_else(time::now),
        source: PaymentSource::Notify,
    }))
}

impl Channel for AlipayChannel {
    fn id(&self) -> ChannelId {
        ChannelId::Alipay
    }

    fn supports(&self, product: &Product) -> bool {
        matches!(
            product,
            Product::Qr | Product::Page { .. } | Product::Wap { .. } | Product::App
        )
    }

    fn open<'a>(
        &'a self,
        trade: &'a TradeRequest<'a>,
    ) -> BoxFuture<'a, Result<Opened, ChannelError>> {
        self.open_trade(trade).boxed()
    }

    fn query<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> BoxFuture<'a, Result<TradeState, ChannelError>> {
        self.query_trade(out_trade_no).boxed()
    }

    fn close<'a>(&'a self, out_trade_no: &'a str) -> BoxFuture<'a, Result<Closing, ChannelError>> {
        self.close_trade(out_trade_no).boxed()
    }

    fn verify_notify(&self, body: &[u8]) -> Result<Notified, Rejection> {
        let fields = form::decode(body).map_err(|e| {
            Rejection::new(RejectionKind::Malformed, format!("unreadable form: {e}"))
        })?;
        check_notify(&fields, self.client.config())
    }

    /// Alipay reads the literal body: `success` stops its retries, anything else continues.
    fn notify_answer(&self, result: Result<(), &str>) -> NotifyAnswer {
        NotifyAnswer {
            content_type: "text/plain; charset=utf-8",
            body: if result.is_ok() { "success" } else { "fail" }.into(),
        }
    }

    fn check_credentials(&self) -> BoxFuture<'_, CredentialCheck> {
        self.client.check_credentials().boxed()
    }

    fn client_params(&self, product: &Product, credential: &str) -> Option<serde_json::Value> {
        matches!(product, Product::App).then(|| json!({ "order_string": credential }))
    }

    fn open_call(&self, product: &Product) -> &'static str {
        match product {
            Product::Page { .. } => "alipay.trade.page.pay",
            Product::Wap { .. } => "alipay.trade.wap.pay",
            Product::App => "alipay.trade.app.pay",
            _ => "alipay.trade.precreate",
        }
    }

    fn call_names(&self) -> CallNames {
        CallNames {
            open: "alipay.trade.precreate",
            query: "alipay.trade.query",
            close: "alipay.trade.close",
        }
    }
}
