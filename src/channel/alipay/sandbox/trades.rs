//! The sandbox's trades and Alipay's rules for them, in memory and bounded: past `max_trades`
//! the oldest is forgotten, so a loop of precreates (anyone can reach a sandbox) cannot
//! exhaust memory.

use crate::channel::alipay::amount::to_yuan;
use crate::channel::alipay::sign::{PrivateKey, PublicKey};
use crate::channel::alipay::{beijing_time, form, sign};
use crate::domain::{random_string, time};
use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct AlipaySandboxConfig {
    pub app_id: String,
    pub seller_id: String,
    /// Verifies the merchant app's requests.
    pub app_public_key: PublicKey,
    /// Signs answers and notifies, standing in for Alipay's key.
    pub alipay_private_key: Arc<PrivateKey>,
    pub notify_schedule: Vec<Duration>,
    pub max_trades: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Precreated or opened, nobody has scanned it: Alipay does not know it yet.
    Created,
    WaitBuyerPay,
    Success,
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "CREATED",
            Status::WaitBuyerPay => "WAIT_BUYER_PAY",
            Status::Success => "TRADE_SUCCESS",
            Status::Closed => "TRADE_CLOSED",
        }
    }
}

pub use crate::channel::sandbox_notify::NotifyAttempt;

#[derive(Debug, Clone)]
pub struct Trade {
    pub out_trade_no: String,
    pub method: String,
    /// Fen.
    pub total_amount: i64,
    pub subject: String,
    pub status: Status,
    pub qr_code: Option<String>,
    pub trade_no: Option<String>,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    pub created_at: NaiveDateTime,
    pub paid_at: Option<NaiveDateTime>,
    pub time_expire: Option<String>,
    pub notify_attempts: Vec<NotifyAttempt>,
}

#[derive(Default)]
struct Book {
    by_out_trade_no: HashMap<String, Trade>,
    age_order: VecDeque<String>,
    by_qr_code: HashMap<String, String>,
}

pub struct AlipaySandbox {
    pub config: AlipaySandboxConfig,
    pub http: reqwest::Client,
    book: Mutex<Book>,
}

/// An answer of Alipay's business rules: `40004 Business Failed` with its `sub_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub sub_code: &'static str,
    pub sub_msg: String,
}

impl Refusal {
    pub fn new(sub_code: &'static str, sub_msg: impl Into<String>) -> Refusal {
        Refusal {
            sub_code,
            sub_msg: sub_msg.into(),
        }
    }
}

/// What the shopper pays with.
pub enum Opening<'a> {
    Precreate,
    /// page / wap / app pay: the trade waits for the shopper at the sandbox cashier.
    Redirect {
        return_url: Option<&'a str>,
    },
}

impl AlipaySandbox {
    pub fn new(config: AlipaySandboxConfig, http: reqwest::Client) -> AlipaySandbox {
        AlipaySandbox {
            config,
            http,
            book: Mutex::new(Book::default()),
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn trade(&self, out_trade_no: &str) -> Option<Trade> {
        self.book().by_out_trade_no.get(out_trade_no).cloned()
    }

    /// The out_trade_no of the trade Alipay numbered `trade_no`.
    pub fn trade_by_trade_no(&self, trade_no: &str) -> Option<String> {
        self.book()
            .by_out_trade_no
            .values()
            .find(|t| t.trade_no.as_deref() == Some(trade_no))
            .map(|t| t.out_trade_no.clone())
    }

    pub fn trade_by_qr_code(&self, qr_code: &str) -> Option<Trade> {
        let book = self.book();
        let no = book.by_qr_code.get(qr_code)?;
        book.by_out_trade_no.get(no).cloned()
    }

    /// Opens (or, with the same amount, reopens) a trade.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        &self,
        method: &str,
        out_trade_no: &str,
        total_amount: i64,
        subject: &str,
        notify_url: Option<&str>,
        time_expire: Option<&str>,
        opening: Opening<'_>,
    ) -> Result<Trade, Refusal> {
        let mut book = self.book();
        if let Some(known) = book.by_out_trade_no.get_mut(out_trade_no) {
            match known.status {
                Status::Success => {
                    return Err(Refusal::new("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"))
                }
                Status::Closed => return Err(Refusal::new("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")),
                _ if known.total_amount != total_amount => {
                    return Err(Refusal::new(
                        "ACQ.CONTEXT_INCONSISTENT",
                        "交易信息被篡改 (the same out_trade_no with another total_amount)",
                    ))
                }
                _ => {
                    if let Opening::Redirect { return_url } = opening {
                        known.return_url = return_url.map(str::to_owned);
                    }
                    if matches!(opening, Opening::Precreate) && known.qr_code.is_none() {
                        let qr_code = format!("https://qr.alipay.com/bax0{}", random_string(20));
                        known.qr_code = Some(qr_code.clone());
                        let no = known.out_trade_no.clone();
                        book.by_qr_code.insert(qr_code, no);
                    }
                    return Ok(book.by_out_trade_no[out_trade_no].clone());
                }
            }
        }
        let (qr_code, return_url) = match opening {
            Opening::Precreate => (
                Some(format!("https://qr.alipay.com/bax0{}", random_string(20))),
                None,
            ),
            Opening::Redirect { return_url } => (None, return_url.map(str::to_owned)),
        };
        let trade = Trade {
            out_trade_no: out_trade_no.to_owned(),
            method: method.to_owned(),
            total_amount,
            subject: subject.to_owned(),
            status: Status::Created,
            qr_code,
            trade_no: None,
            notify_url: notify_url.map(str::to_owned),
            return_url,
            created_at: time::now(),
            paid_at: None,
            time_expire: time_expire.map(str::to_owned),
            notify_attempts: Vec::new(),
        };
        while book.by_out_trade_no.len() >= self.config.max_trades.max(1) {
            let Some(oldest) = book.age_order.pop_front() else {
                break;
            };
            if let Some(gone) = book.by_out_trade_no.remove(&oldest) {
                if let Some(qr) = gone.qr_code {
                    book.by_qr_code.remove(&qr);
                }
            }
        }
        if let Some(qr) = &trade.qr_code {
            book.by_qr_code
                .insert(qr.clone(), trade.out_trade_no.clone());
        }
        book.age_order.push_back(trade.out_trade_no.clone());
        book.by_out_trade_no
            .insert(trade.out_trade_no.clone(), trade.clone());
        Ok(trade)
    }

    /// The shopper pays: `TRADE_SUCCESS` with a new `trade_no`.
    pub fn pay(&self, out_trade_no: &str) -> Result<Trade, Refusal> {
        let mut book = self.book();
        let trade = book
            .by_out_trade_no
            .get_mut(out_trade_no)
            .ok_or_else(|| Refusal::new("ACQ.TRADE_NOT_EXIST", "交易不存在"))?;
        match trade.status {
            Status::Success => return Err(Refusal::new("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")),
            Status::Closed => return Err(Refusal::new("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")),
            _ => {}
        }
        let now = time::now();
        // Past its time_expire Alipay closes the trade itself: nobody can pay it any more.
        let expired = trade
            .time_expire
            .as_deref()
            .and_then(crate::channel::alipay::parse_beijing_time)
            .is_some_and(|at| at <= now);
        if expired {
            trade.status = Status::Closed;
            return Err(Refusal::new(
                "ACQ.TRADE_HAS_CLOSE",
                "交易已经关闭 (time_expire passed)",
            ));
        }
        trade.status = Status::Success;
        trade.paid_at = Some(now);
        // Alipay's shape: the Beijing date, 22001, then digits (28 in all).
        trade.trade_no = Some(format!(
            "{}22001{}",
            (now + chrono::Duration::hours(8)).format("%Y%m%d"),
            random_digits(15)
        ));
        Ok(trade.clone())
    }

    /// `alipay.trade.close`: a trade nobody scanned does not exist at Alipay yet.
    pub fn close(&self, out_trade_no: &str) -> Result<Trade, Refusal> {
        let mut book = self.book();
        let trade = book
            .by_out_trade_no
            .get_mut(out_trade_no)
            .filter(|t| t.status != Status::Created)
            .ok_or_else(|| Refusal::new("ACQ.TRADE_NOT_EXIST", "交易不存在"))?;
        if trade.status != Status::WaitBuyerPay {
            return Err(Refusal::new("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"));
        }
        trade.status = Status::Closed;
        Ok(trade.clone())
    }

    /// The shopper scanned (or opened the cashier): Alipay knows the trade from now on.
    pub fn scanned(&self, out_trade_no: &str) {
        if let Some(trade) = self.book().by_out_trade_no.get_mut(out_trade_no) {
            if trade.status == Status::Created {
                trade.status = Status::WaitBuyerPay;
            }
        }
    }

    /// `alipay.trade.query`'s answer for a trade Alipay knows.
    pub fn query(&self, out_trade_no: &str) -> Result<Map<String, Value>, Refusal> {
        let trade = self
            .trade(out_trade_no)
            .filter(|t| t.status != Status::Created)
            .ok_or_else(|| Refusal::new("ACQ.TRADE_NOT_EXIST", "交易不存在"))?;
        let mut answer = Map::new();
        answer.insert("code".into(), json!("10000"));
        answer.insert("msg".into(), json!("Success"));
        answer.insert("out_trade_no".into(), json!(trade.out_trade_no));
        answer.insert("trade_status".into(), json!(trade.status.as_str()));
        answer.insert("total_amount".into(), json!(to_yuan(trade.total_amount)));
        if let Some(trade_no) = &trade.trade_no {
            answer.insert("trade_no".into(), json!(trade_no));
            answer.insert("buyer_logon_id".into(), json!("san***@sandbox.com"));
            answer.insert(
                "buyer_pay_amount".into(),
                json!(to_yuan(trade.total_amount)),
            );
        }
        if let Some(paid_at) = trade.paid_at {
            answer.insert("send_pay_date".into(), json!(beijing_time(paid_at)));
        }
        Ok(answer)
    }

    /// The async notify of a paid trade, signed like Alipay's: over every field but `sign`
    /// and `sign_type`, none empty.
    pub fn notify_fields(&self, trade: &Trade) -> BTreeMap<String, String> {
        let yuan = to_yuan(trade.total_amount);
        let now = beijing_time(time::now());
        let paid_at = trade
            .paid_at
            .map(beijing_time)
            .unwrap_or_else(|| now.clone());
        let mut fields: BTreeMap<String, String> = [
            ("notify_time", now.as_str()),
            ("notify_type", "trade_status_sync"),
            ("app_id", self.config.app_id.as_str()),
            ("auth_app_id", self.config.app_id.as_str()),
            ("charset", "utf-8"),
            ("version", "1.0"),
            ("out_trade_no", trade.out_trade_no.as_str()),
            ("trade_no", trade.trade_no.as_deref().unwrap_or_default()),
            ("trade_status", trade.status.as_str()),
            ("seller_id", self.config.seller_id.as_str()),
            ("buyer_id", "2088102000000000"),
            ("buyer_logon_id", "san***@sandbox.com"),
            ("total_amount", yuan.as_str()),
            ("receipt_amount", yuan.as_str()),
            ("buyer_pay_amount", yuan.as_str()),
            ("invoice_amount", yuan.as_str()),
            ("subject", trade.subject.as_str()),
            ("gmt_create", &beijing_time(trade.created_at)),
            ("gmt_payment", paid_at.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        fields.insert(
            "fund_bill_list".into(),
            json!([{ "amount": yuan, "fundChannel": "ALIPAYACCOUNT" }]).to_string(),
        );
        fields.insert("notify_id".into(), random_string(32));
        let signed = sign::notify_string_to_verify(&fields);
        fields.insert(
            "sign".into(),
            self.config.alipay_private_key.sign(signed.as_bytes()),
        );
        fields.insert("sign_type".into(), "RSA2".into());
        fields
    }

    /// The parameters Alipay appends to `return_url` when it sends the browser back.
    pub fn return_params(&self, trade: &Trade) -> String {
        let mut params: BTreeMap<String, String> = [
            ("app_id", self.config.app_id.clone()),
            ("method", format!("{}.return", trade.method)),
            ("charset", "utf-8".to_owned()),
            ("version", "1.0".to_owned()),
            ("timestamp", beijing_time(time::now())),
            ("out_trade_no", trade.out_trade_no.clone()),
            ("trade_no", trade.trade_no.clone().unwrap_or_default()),
            ("total_amount", to_yuan(trade.total_amount)),
            ("seller_id", self.config.seller_id.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let signed = sign::notify_string_to_verify(&params);
        params.insert(
            "sign".into(),
            self.config.alipay_private_key.sign(signed.as_bytes()),
        );
        params.insert("sign_type".into(), "RSA2".into());
        form::encode(&params)
    }

    pub fn record_attempt(&self, out_trade_no: &str, attempt: NotifyAttempt) {
        if let Some(trade) = self.book().by_out_trade_no.get_mut(out_trade_no) {
            trade.notify_attempts.push(attempt);
        }
    }
}

/// `n` random decimal digits.
fn random_digits(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10)))
        .collect()
}
