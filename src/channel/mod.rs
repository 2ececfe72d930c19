//! The payment channels behind one boundary. Each channel is a folder that owns its protocol
//! (signing, codec, client, notify parsing) and its sandbox, and one adapter implementing
//! [`Channel`] in the service's neutral terms. The rest of the service speaks only these
//! terms: it never sees a WeChat `trade_state` or an Alipay `trade_status`.
//!
//! Refunds and bills come next: they will be further methods here (refund, refund query,
//! verify a refund notify, download a day's bill) answering neutral `ReportedRefund` and
//! `BillLine` values, the same way payments are answered.

pub mod alipay;
pub mod registry;
pub mod sandbox_notify;
pub mod wechat;

pub use crate::domain::ChannelId;
pub use registry::Channels;

use chrono::{Duration, NaiveDateTime};
use futures_util::future::BoxFuture;

/// What the shopper pays with: one kind of trade at a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Product {
    /// A QR code to scan (WeChat NATIVE, Alipay precreate / 当面付).
    Qr,
    /// WeChat in an official account or mini-program: the payer's openid.
    Jsapi { openid: String },
    /// WeChat H5 in a phone browser (MWEB): the shopper's IP (WeChat checks it) and the scene.
    H5 {
        client_ip: String,
        scene_info: String,
    },
    /// Alipay on a computer's browser (page.pay): where Alipay sends the shopper back.
    Page { return_url: Option<String> },
    /// Alipay in a phone's browser (wap.pay).
    Wap { return_url: Option<String> },
    /// The channel's app SDK.
    App,
}

impl Product {
    /// The stored name (`channel_trades.product`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Product::Qr => "qr",
            Product::Jsapi { .. } => "jsapi",
            Product::H5 { .. } => "h5",
            Product::Page { .. } => "page",
            Product::Wap { .. } => "wap",
            Product::App => "app",
        }
    }

    /// What makes two requests of one product need two trades.
    pub fn params(&self) -> Option<String> {
        let json = match self {
            Product::Jsapi { openid } => serde_json::json!({ "openid": openid }),
            Product::H5 {
                client_ip,
                scene_info,
            } => serde_json::json!({ "client_ip": client_ip, "scene_info": scene_info }),
            Product::Page {
                return_url: Some(url),
            }
            | Product::Wap {
                return_url: Some(url),
            } => serde_json::json!({ "return_url": url }),
            _ => return None,
        };
        Some(json.to_string())
    }
}

/// A trade to open for an order.
#[derive(Debug, Clone)]
pub struct TradeRequest<'a> {
    pub out_trade_no: &'a str,
    /// The order's id: WeChat NATIVE's `product_id`.
    pub order_id: &'a str,
    pub description: &'a str,
    /// Fen.
    pub amount: i64,
    /// UTC; the channel itself stops taking money then.
    pub expires_at: NaiveDateTime,
    pub product: &'a Product,
}

/// What an opened trade gives the payer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The channel's handle of the trade: WeChat's prepay_id; Alipay's QR code, gateway URL or
    /// app order string.
    pub credential: String,
    /// What the shopper scans or opens: a QR code's text or a URL.
    pub pay_url: Option<String>,
    /// How long the credential can be used (never past the order's expiry).
    pub lifetime: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentSource {
    Notify,
    Query,
}

impl PaymentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentSource::Notify => "notify",
            PaymentSource::Query => "query",
        }
    }
}

/// A successful payment as a channel reported it (already verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedPayment {
    pub channel: ChannelId,
    pub out_trade_no: String,
    /// The channel's id of the money movement (WeChat `transaction_id`, Alipay `trade_no`).
    pub transaction_id: String,
    /// Fen.
    pub amount: i64,
    pub paid_at: NaiveDateTime,
    pub source: PaymentSource,
}

/// A trade as the channel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeState {
    /// The channel has no such trade (WeChat ORDERNOTEXIST; Alipay before the QR is scanned).
    NotFound,
    /// Open, nobody paying yet.
    Waiting,
    /// A shopper is in the middle of paying (WeChat USERPAYING, Alipay WAIT_BUYER_PAY).
    Paying,
    Paid(ReportedPayment),
    /// Closed, revoked or failed: no money can come through it.
    Closed,
}

/// What a close call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    Closed,
    /// The channel never had the trade (it can take no money through it).
    NotFound,
    /// Already final (paid or closed): a query says which.
    AlreadyFinal,
}

/// A channel call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// No answer: connection refused, timeout, a non-2xx status.
    #[error("{} did not answer: {detail}", .channel.display_name())]
    Transport { channel: ChannelId, detail: String },
    /// An answer we cannot trust or read: unreadable, a missing or wrong signature.
    #[error("{} answered something invalid: {detail}", .channel.display_name())]
    InvalidReply { channel: ChannelId, detail: String },
    /// The channel refused the call itself (bad signature, unknown account, missing field).
    #[error("{} refused the call: {message}", .channel.display_name())]
    Refused { channel: ChannelId, message: String },
    /// The channel took the call and said no (`err_code` / `sub_code`).
    #[error("{} said {code}: {message}", .channel.display_name())]
    Business {
        channel: ChannelId,
        code: String,
        message: String,
    },
}

impl ChannelError {
    /// What a caller of our API may see: the channel's own words for a refusal, and no more
    /// than "did not answer" for the rest (whose detail, with internal URLs, goes to the log).
    pub fn public_message(&self) -> String {
        match self {
            ChannelError::Transport { channel, .. } => {
                format!("{} did not answer; try again", channel.display_name())
            }
            ChannelError::InvalidReply { channel, .. } => {
                format!(
                    "{} answered something invalid; try again",
                    channel.display_name()
                )
            }
            refusal => refusal.to_string(),
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ChannelError::Business { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn is_transport(&self) -> bool {
        matches!(self, ChannelError::Transport { .. })
    }
}

/// Why a notify was refused. The kind decides what is kept: a notify the channel signed is
/// kept for an operator; one that failed authentication is only counted and sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    Malformed,
    /// Lacks what every genuine notify carries (account, signature).
    Forged,
    /// Another account's.
    Account,
    Signature,
    /// Signed, but not a payment (e.g. WeChat `result_code=FAIL`).
    NotSuccess,
    Amount,
    UnknownTrade,
    Other,
}

impl RejectionKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            RejectionKind::Malformed => "malformed",
            RejectionKind::Forged => "forged",
            RejectionKind::Account => "account",
            RejectionKind::Signature => "signature",
            RejectionKind::NotSuccess => "not_success",
            RejectionKind::Amount => "amount",
            RejectionKind::UnknownTrade => "unknown_trade",
            RejectionKind::Other => "other",
        }
    }

    /// Whether the notify was shown to be the channel's (then it is kept in full).
    pub fn authenticated(self) -> bool {
        matches!(
            self,
            RejectionKind::NotSuccess | RejectionKind::Amount | RejectionKind::UnknownTrade
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectionKind,
    pub reason: String,
    pub out_trade_no: Option<String>,
    pub transaction_id: Option<String>,
}

impl Rejection {
    pub fn new(kind: RejectionKind, reason: impl Into<String>) -> Rejection {
        Rejection {
            kind,
            reason: reason.into(),
            out_trade_no: None,
            transaction_id: None,
        }
    }
}

/// A verified notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notified {
    Payment(ReportedPayment),
    /// Genuine, but nothing to record (e.g. Alipay's `WAIT_BUYER_PAY`): acknowledged as is.
    Nothing(String),
}

/// The body a channel wants back from its notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyAnswer {
    pub content_type: &'static str,
    pub body: String,
}

/// What a live start learned of a channel account (`Channel::check_credentials`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialCheck {
    /// Sandbox mode, or the check has not answered yet.
    Unchecked,
    Accepted,
    /// The channel answered, and not as to an account it accepts.
    Refused(String),
    /// The channel did not answer (it may later).
    Unreachable(String),
}

impl CredentialCheck {
    pub fn as_str(&self) -> &'static str {
        match self {
            CredentialCheck::Unchecked => "unchecked",
            CredentialCheck::Accepted => "accepted",
            CredentialCheck::Refused(_) => "refused",
            CredentialCheck::Unreachable(_) => "unreachable",
        }
    }
}

/// The names of a channel's calls, for the order's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallNames {
    pub open: &'static str,
    pub query: &'static str,
    pub close: &'static str,
}

/// How soon after opening a trade its channel accepts closing it: WeChat refuses closeorder
/// within five minutes of unifiedorder; Alipay closes at once. Known by id because the state
/// machine, which holds no channel, schedules closes too.
pub fn close_allowed_after(channel: ChannelId) -> Duration {
    match channel {
        ChannelId::Wechat => Duration::minutes(5),
        ChannelId::Alipay => Duration::zero(),
    }
}

/// One payment channel, in the service's terms.
pub trait Channel: Send + Sync {
    fn id(&self) -> ChannelId;

    /// Whether the channel sells this product (WeChat has no page pay; Alipay no JSAPI).
    fn supports(&self, product: &Product) -> bool;

    /// Opens a trade (WeChat unifiedorder; Alipay precreate, or a signed gateway URL or order
    /// string built here: those trades exist at Alipay only once the shopper opens them).
    fn open<'a>(
        &'a self,
        trade: &'a TradeRequest<'a>,
    ) -> BoxFuture<'a, Result<Opened, ChannelError>>;

    fn query<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> BoxFuture<'a, Result<TradeState, ChannelError>>;

    /// Closes a trade so no money can come through it any more.
    fn close<'a>(&'a self, out_trade_no: &'a str) -> BoxFuture<'a, Result<Closing, ChannelError>>;

    /// Verifies a notify's bytes: a payment, nothing, or why it is refused.
    fn verify_notify(&self, body: &[u8]) -> Result<Notified, Rejection>;

    /// The answer the channel expects: `Ok` once recorded, `Err(reason)` to be sent again.
    fn notify_answer(&self, result: Result<(), &str>) -> NotifyAnswer;

    /// Verifies the configured account without money.
    fn check_credentials(&self) -> BoxFuture<'_, CredentialCheck>;

    fn call_names(&self) -> CallNames;

    /// The opening call's name for `product` (the timeline's `call`).
    fn open_call(&self, _product: &Product) -> &'static str {
        self.call_names().open
    }

    /// What the payer's client (a mini-program, an app SDK) takes to pay an opened trade of
    /// `product`, signed where the channel wants it; `None` for products paid by URL or QR.
    fn client_params(&self, product: &Product, credential: &str) -> Option<serde_json::Value>;

    /// The least time before the order's expiry a trade can still be opened.
    fn min_time_to_open(&self) -> Duration {
        Duration::seconds(65)
    }
}
