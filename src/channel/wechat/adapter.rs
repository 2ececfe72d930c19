//! WeChat Pay v2 in the service's neutral terms: products to trade types, `trade_state` to
//! `TradeState`, `err_code` to `Closing`, the XML notify to a `ReportedPayment`.

use super::client::{UnifiedOrder, WechatClient};
use super::{notify, parse_beijing_time, pay_params, xml, TradeType};
use crate::channel::{
    CallNames, Channel, ChannelError, ChannelId, Closing, CredentialCheck, Notified, NotifyAnswer,
    Opened, PaymentSource, Product, Rejection, RejectionKind, ReportedPayment, TradeRequest,
    TradeState,
};
use crate::domain::time;
use chrono::Duration;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

pub struct WechatChannel {
    client: WechatClient,
    /// `<PUBLIC_BASE_URL>/notify/wechat`.
    notify_url: String,
    /// The server's IP, which WeChat asks for with NATIVE and APP payments.
    server_ip: String,
}

impl WechatChannel {
    pub fn new(client: WechatClient, notify_url: String, server_ip: String) -> WechatChannel {
        WechatChannel {
            client,
            notify_url,
            server_ip,
        }
    }

    pub fn client(&self) -> &WechatClient {
        &self.client
    }

    async fn open_trade(&self, trade: &TradeRequest<'_>) -> Result<Opened, ChannelError> {
        let (trade_type, openid, client_ip, scene_info) = match trade.product {
            Product::Qr => (TradeType::Native, None, None, None),
            Product::Jsapi { openid } => (TradeType::Jsapi, Some(openid.as_str()), None, None),
            Product::H5 {
                client_ip,
                scene_info,
            } => (
                TradeType::Mweb,
                None,
                Some(client_ip.as_str()),
                Some(scene_info.as_str()),
            ),
            Product::App => (TradeType::App, None, None, None),
            Product::Page { .. } | Product::Wap { .. } => {
                return Err(ChannelError::Refused {
                    channel: ChannelId::Wechat,
                    message: format!("WeChat Pay has no {} payment", trade.product.as_str()),
                })
            }
        };
        let prepay = self
            .client
            .unified_order(&UnifiedOrder {
                out_trade_no: trade.out_trade_no,
                body: trade.description,
                total_fee: trade.amount,
                trade_type,
                notify_url: &self.notify_url,
                time_expire: trade.expires_at,
                spbill_create_ip: client_ip.unwrap_or(&self.server_ip),
                product_id: (trade_type == TradeType::Native).then_some(trade.order_id),
                openid,
                scene_info,
            })
            .await?;
        Ok(Opened {
            credential: prepay.prepay_id,
            pay_url: match trade_type {
                TradeType::Native => prepay.code_url,
                TradeType::Mweb => prepay.mweb_url,
                _ => None,
            },
            // prepay_id and code_url live two hours; an mweb_url five minutes.
            lifetime: match trade_type {
                TradeType::Mweb => Duration::minutes(5),
                _ => Duration::hours(2),
            },
        })
    }

    async fn query_trade(&self, out_trade_no: &str) -> Result<TradeState, ChannelError> {
        let query = match self.client.order_query(out_trade_no).await {
            Ok(query) => query,
            Err(e) if e.err_code() == Some("ORDERNOTEXIST") => return Ok(TradeState::NotFound),
            Err(e) => return Err(e.into()),
        };
        Ok(match query.trade_state.as_str() {
            // REFUND: paid, then refunded: the payment happened.
            "SUCCESS" | "REFUND" => {
                let (Some(transaction_id), Some(amount)) = (query.transaction_id, query.total_fee)
                else {
                    return Err(ChannelError::InvalidReply {
                        channel: ChannelId::Wechat,
                        detail: "a paid trade without transaction_id or total_fee".into(),
                    });
                };
                TradeState::Paid(ReportedPayment {
                    channel: ChannelId::Wechat,
                    out_trade_no: out_trade_no.to_owned(),
                    transaction_id,
                    amount,
                    paid_at: query
                        .time_end
                        .as_deref()
                        .and_then(parse_beijing_time)
                        .unwrap_or_else(time::now),
                    source: PaymentSource::Query,
                })
            }
            "NOTPAY" => TradeState::Waiting,
            "USERPAYING" => TradeState::Paying,
            "CLOSED" | "REVOKED" | "PAYERROR" => TradeState::Closed,
            other => {
                return Err(ChannelError::InvalidReply {
                    channel: ChannelId::Wechat,
                    detail: format!("unknown trade_state {other}"),
                })
            }
        })
    }

    async fn close_trade(&self, out_trade_no: &str) -> Result<Closing, ChannelError> {
        match self.client.close_order(out_trade_no).await {
            Ok(()) => Ok(Closing::Closed),
            Err(e) => match e.err_code() {
                Some("ORDERCLOSED" | "ORDERPAID") => Ok(Closing::AlreadyFinal),
                Some("ORDERNOTEXIST") => Ok(Closing::NotFound),
                _ => Err(e.into()),
            },
        }
    }
}

impl Channel for WechatChannel {
    fn id(&self) -> ChannelId {
        ChannelId::Wechat
    }

    fn supports(&self, product: &Product) -> bool {
        !matches!(product, Product::Page { .. } | Product::Wap { .. })
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
        let fields = xml::decode(body).map_err(|e| {
            Rejection::new(RejectionKind::Malformed, format!("unreadable XML: {e}"))
        })?;
        notify::check(&fields, self.client.config()).map(Notified::Payment)
    }

    fn notify_answer(&self, result: Result<(), &str>) -> NotifyAnswer {
        let (code, message) = match result {
            Ok(()) => ("SUCCESS", "OK"),
            Err(reason) => ("FAIL", reason),
        };
        NotifyAnswer {
            content_type: "text/xml; charset=utf-8",
            body: xml::encode([("return_code", code), ("return_msg", message)]),
        }
    }

    fn check_credentials(&self) -> BoxFuture<'_, CredentialCheck> {
        self.client.check_credentials().boxed()
    }

    fn client_params(&self, product: &Product, prepay_id: &str) -> Option<serde_json::Value> {
        let timestamp = chrono::Utc::now().timestamp();
        match product {
            Product::Jsapi { .. } => Some(pay_params::jsapi(
                self.client.config(),
                prepay_id,
                timestamp,
            )),
            Product::App => Some(pay_params::app(self.client.config(), prepay_id, timestamp)),
            _ => None,
        }
    }

    fn call_names(&self) -> CallNames {
        CallNames {
            open: "unifiedorder",
            query: "orderquery",
            close: "closeorder",
        }
    }

    /// WeChat wants `time_expire` at least a minute ahead; leave room for the call itself.
    fn min_time_to_open(&self) -> Duration {
        Duration::seconds(65)
    }
}
