use super::book::{NotifyAttempt, Trade, TradeBook, TradeState};
use crate::channel::wechat::sign::{self, SignType};
use crate::channel::wechat::xml::Fields;
use crate::channel::wechat::{beijing_time, parse_beijing_time, TradeType};
use crate::domain::random_string;
use chrono::{Duration, NaiveDateTime, Utc};
use rand::Rng;
use std::sync::Mutex;

#[derive(Clone)]
pub struct SandboxConfig {
    pub app_id: String,
    pub mch_id: String,
    pub api_key: String,
    /// Pauses between notify attempts after the first (WeChat's: 15s, 15s, 30s, 3m, …).
    pub notify_schedule: Vec<std::time::Duration>,
    /// Trades kept; the oldest are forgotten beyond it.
    pub max_trades: usize,
}

/// Notify attempts kept per trade (WeChat's schedule has 16).
const MAX_ATTEMPTS_SHOWN: usize = 50;

/// A WeChat answer: `Err` is (err_code, err_code_des) with `result_code=FAIL`.
pub type Outcome = Result<Fields, (&'static str, String)>;

pub struct Sandbox {
    pub config: SandboxConfig,
    pub(super) trades: Mutex<TradeBook>,
    pub(super) http: reqwest::Client,
}

/// The fields that are part of the request envelope, not of the trade.
const ENVELOPE: [&str; 5] = ["appid", "mch_id", "nonce_str", "sign", "sign_type"];

fn present<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn lack(name: &str) -> (&'static str, String) {
    ("LACK_PARAMS", format!("缺少参数{name}"))
}

fn param_error(message: impl Into<String>) -> (&'static str, String) {
    ("PARAM_ERROR", message.into())
}

impl Sandbox {
    pub fn new(config: SandboxConfig, http: reqwest::Client) -> Sandbox {
        Sandbox {
            trades: Mutex::new(TradeBook::new(config.max_trades)),
            config,
            http,
        }
    }

    pub fn now(&self) -> NaiveDateTime {
        Utc::now().naive_utc()
    }

    /// Moves one trade back in time by `by`, as if it had been placed that much earlier (its
    /// expiry too): how tests reach WeChat's five-minute close rule or a trade's expiry. The
    /// sandbox has no clock of its own, so no one can change time for every trade at once.
    pub fn age(&self, out_trade_no: &str, by: Duration) -> Option<Trade> {
        let mut trades = self.lock();
        let trade = trades.get_mut(out_trade_no)?;
        trade.created_at -= by;
        trade.time_expire = trade.time_expire.map(|t| t - by);
        Some(trade.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TradeBook> {
        self.trades.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn trade(&self, out_trade_no: &str) -> Option<Trade> {
        self.lock().get(out_trade_no).cloned()
    }

    pub fn trade_by_code_url(&self, code_url: &str) -> Option<Trade> {
        self.lock().by_code_url(code_url).cloned()
    }

    /// Checks the envelope every v2 call shares, and answers the sign type the reply uses.
    /// `Err` carries that sign type too, so even a refusal is signed like WeChat's.
    pub fn authenticate(
        &self,
        fields: &Fields,
    ) -> Result<SignType, (SignType, (&'static str, String))> {
        let sign_type = match fields.get("sign_type").map(String::as_str) {
            None | Some("") => SignType::Md5,
            Some(s) => SignType::parse(s).ok_or((
                SignType::Md5,
                param_error("sign_type参数错误，仅支持MD5和HMAC-SHA256"),
            ))?,
        };
        for name in ["appid", "mch_id", "nonce_str", "sign"] {
            if present(fields, name).is_none() {
                return Err((sign_type, lack(name)));
            }
        }
        if fields["appid"] != self.config.app_id || fields["mch_id"] != self.config.mch_id {
            return Err((
                sign_type,
                ("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配".into()),
            ));
        }
        if !sign::verify(fields, &self.config.api_key, sign_type) {
            return Err((sign_type, ("SIGNERROR", "签名错误".into())));
        }
        Ok(sign_type)
    }

    pub fn unified_order(&self, fields: &Fields, sign_type: SignType) -> Outcome {
        for name in [
            "body",
            "out_trade_no",
            "total_fee",
            "spbill_create_ip",
            "notify_url",
            "trade_type",
        ] {
            if present(fields, name).is_none() {
                return Err(lack(name));
            }
        }
        let trade_type = TradeType::parse(&fields["trade_type"])
            .ok_or_else(|| param_error("trade_type参数错误"))?;
        let required_by_type = match trade_type {
            TradeType::Native => Some("product_id"),
            TradeType::Jsapi => Some("openid"),
            TradeType::Mweb => Some("scene_info"),
            TradeType::App => None,
        };
        if let Some(name) = required_by_type {
            if present(fields, name).is_none() {
                return Err(lack(name));
            }
        }
        let out_trade_no = &fields["out_trade_no"];
        if out_trade_no.len() > 32
            || !out_trade_no
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b))
        {
            return Err(param_error("out_trade_no参数格式错误"));
        }
        if fields["body"].len() > 128 {
            return Err(param_error("body参数长度有误"));
        }
        let total_fee = fields["total_fee"]
            .parse::<i64>()
            .ok()
            .filter(|f| *f > 0 && fields["total_fee"].bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| param_error("total_fee参数格式错误"))?;
        let notify_url = &fields["notify_url"];
        match url::Url::parse(notify_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => {}
            _ => return Err(param_error("notify_url参数格式错误，不能携带参数")),
        }
        let now = self.now();
        let time_expire = match present(fields, "time_expire") {
            None => None,
            Some(s) => {
                let t =
                    parse_beijing_time(s).ok_or_else(|| param_error("time_expire参数格式错误"))?;
                if t < now + Duration::minutes(1) {
                    return Err(param_error("time_expire时间过短，至少1分钟"));
                }
                Some(t)
            }
        };
        let params: Fields = fields
            .iter()
            .filter(|(k, _)| !ENVELOPE.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();

        let mut trades = self.lock();
        if let Some(existing) = trades.get_mut(out_trade_no.as_str()) {
            existing.unifiedorder_calls += 1;
            return match existing.state {
                TradeState::Success => Err(("ORDERPAID", "该订单已支付".into())),
                TradeState::Closed => Err(("ORDERCLOSED", "该订单已关闭".into())),
                TradeState::NotPay if existing.params != params => {
                    Err(("INVALID_REQUEST", "201 商户订单号重复".into()))
                }
                TradeState::NotPay => Ok(prepay_reply(existing)),
            };
        }
        let prepay_id = format!("wx{}{}", beijing_time(now), random_hex(20));
        let trade = Trade {
            out_trade_no: out_trade_no.clone(),
            trade_type,
            sign_type,
            total_fee,
            notify_url: notify_url.clone(),
            time_expire,
            created_at: now,
            code_url: (trade_type == TradeType::Native)
                .then(|| format!("weixin://wxpay/bizpayurl?pr={}", random_string(7))),
            mweb_url: (trade_type == TradeType::Mweb).then(|| {
                format!("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={prepay_id}&package={}", random_digits(10))
            }),
            prepay_id,
            params,
            state: TradeState::NotPay,
            transaction_id: None,
            time_end: None,
            openid: fields.get("openid").cloned(),
            notify_attempts: Vec::new(),
            notify_acknowledged: false,
            unifiedorder_calls: 1,
        };
        let reply = prepay_reply(&trade);
        trades.insert(trade);
        Ok(reply)
    }

    pub fn order_query(&self, fields: &Fields) -> Outcome {
        let trades = self.lock();
        let trade = match (
            present(fields, "out_trade_no"),
            present(fields, "transaction_id"),
        ) {
            (Some(no), _) => trades.get(no),
            (None, Some(id)) => trades
                .values()
                .find(|t| t.transaction_id.as_deref() == Some(id)),
            (None, None) => return Err(lack("out_trade_no")),
        };
        let trade = trade.ok_or(("ORDERNOTEXIST", "此交易订单号不存在".to_owned()))?;
        let mut reply = Fields::new();
        let mut put = |k: &str, v: &str| {
            reply.insert(k.to_owned(), v.to_owned());
        };
        put("out_trade_no", &trade.out_trade_no);
        put("trade_state", trade.state.as_str());
        put(
            "trade_state_desc",
            match trade.state {
                TradeState::NotPay => "订单未支付",
                TradeState::Success => "支付成功",
                TradeState::Closed => "订单已关闭",
            },
        );
        put("total_fee", &trade.total_fee.to_string());
        if let Some(attach) = trade.params.get("attach") {
            put("attach", attach);
        }
        if trade.state == TradeState::Success {
            for (k, v) in payment_fields(trade) {
                put(k, &v);
            }
        }
        Ok(reply)
    }

    pub fn close_order(&self, fields: &Fields) -> Outcome {
        let out_trade_no = present(fields, "out_trade_no").ok_or_else(|| lack("out_trade_no"))?;
        let now = self.now();
        let mut trades = self.lock();
        let trade = trades
            .get_mut(out_trade_no)
            .ok_or(("ORDERNOTEXIST", "此交易订单号不存在".to_owned()))?;
        match trade.state {
            TradeState::Success => Err(("ORDERPAID", "该订单已支付".into())),
            TradeState::Closed => Err(("ORDERCLOSED", "该订单已关闭".into())),
            // WeChat refuses to close a trade within five minutes of its unifiedorder.
            TradeState::NotPay if now - trade.created_at < Duration::minutes(5) => Err((
                "SYSTEMERROR",
                "订单生成后不能马上调用关单接口，最短调用时间间隔为5分钟".into(),
            )),
            TradeState::NotPay => {
                trade.state = TradeState::Closed;
                Ok(Fields::new())
            }
        }
    }

    /// The shopper pays: the trade becomes SUCCESS with a new transaction id. `Err` is a
    /// reason for the caller (unknown trade, closed, paid, expired).
    pub fn pay(&self, out_trade_no: &str, openid: Option<&str>) -> Result<Trade, PayRefusal> {
        let now = self.now();
        let mut trades = self.lock();
        let trade = trades.get_mut(out_trade_no).ok_or(PayRefusal::Unknown)?;
        match trade.state {
            TradeState::Success => return Err(PayRefusal::AlreadyPaid),
            TradeState::Closed => return Err(PayRefusal::Closed),
            TradeState::NotPay => {}
        }
        if trade.time_expire.is_some_and(|t| t <= now) {
            return Err(PayRefusal::Expired);
        }
        trade.state = TradeState::Success;
        trade.transaction_id = Some(format!("42000{}", random_digits(23)));
        trade.time_end = Some(beijing_time(now));
        if let Some(openid) = openid {
            trade.openid = Some(openid.to_owned());
        } else if trade.openid.is_none() {
            trade.openid = Some(format!("oSandbox{}", random_string(20)));
        }
        Ok(trade.clone())
    }

    /// The signed notify WeChat posts for a paid trade.
    pub fn notify_fields(&self, trade: &Trade) -> Fields {
        let mut fields: Fields = payment_fields(trade)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        fields.insert("return_code".into(), "SUCCESS".into());
        fields.insert("result_code".into(), "SUCCESS".into());
        fields.insert("out_trade_no".into(), trade.out_trade_no.clone());
        for extra in ["attach", "device_info"] {
            if let Some(v) = trade.params.get(extra).filter(|v| !v.is_empty()) {
                fields.insert(extra.into(), v.clone());
            }
        }
        self.sign_reply(&mut fields, trade.sign_type);
        fields
    }

    /// Adds appid, mch_id, nonce_str (and sign_type for HMAC) and the signature.
    pub fn sign_reply(&self, fields: &mut Fields, sign_type: SignType) {
        fields.insert("appid".into(), self.config.app_id.clone());
        fields.insert("mch_id".into(), self.config.mch_id.clone());
        fields.insert("nonce_str".into(), random_string(32));
        if sign_type == SignType::HmacSha256 {
            fields.insert("sign_type".into(), sign_type.as_str().into());
        }
        let signature = sign::sign(fields, &self.config.api_key, sign_type);
        fields.insert("sign".into(), signature);
    }

    pub(super) fn record_attempt(&self, out_trade_no: &str, attempt: NotifyAttempt) {
        if let Some(trade) = self.lock().get_mut(out_trade_no) {
            trade.notify_acknowledged |= attempt.acknowledged;
            // The schedule is bounded; so is what is shown of it.
            if trade.notify_attempts.len() < MAX_ATTEMPTS_SHOWN {
                trade.notify_attempts.push(attempt);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayRefusal {
    Unknown,
    AlreadyPaid,
    Closed,
    Expired,
}

fn prepay_reply(trade: &Trade) -> Fields {
    let mut reply = Fields::new();
    reply.insert("trade_type".into(), trade.trade_type.as_str().into());
    reply.insert("prepay_id".into(), trade.prepay_id.clone());
    if let Some(code_url) = &trade.code_url {
        reply.insert("code_url".into(), code_url.clone());
    }
    if let Some(mweb_url) = &trade.mweb_url {
        reply.insert("mweb_url".into(), mweb_url.clone());
    }
    reply
}

/// What WeChat reports about a successful payment (notify and orderquery alike).
fn payment_fields(trade: &Trade) -> Vec<(&'static str, String)> {
    vec![
        ("openid", trade.openid.clone().unwrap_or_default()),
        ("is_subscribe", "N".into()),
        ("trade_type", trade.trade_type.as_str().into()),
        ("bank_type", "CMC".into()),
        ("total_fee", trade.total_fee.to_string()),
        ("cash_fee", trade.total_fee.to_string()),
        ("fee_type", "CNY".into()),
        (
            "transaction_id",
            trade.transaction_id.clone().unwrap_or_default(),
        ),
        ("time_end", trade.time_end.clone().unwrap_or_default()),
    ]
}

fn random_digits(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(b'0' + rng.gen_range(0..10)))
        .collect()
}

fn random_hex(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).expect("a hex digit"))
        .collect()
}
