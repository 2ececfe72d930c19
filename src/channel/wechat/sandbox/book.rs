//! The sandbox's trades, in memory and bounded: past `capacity` the oldest trade is forgotten,
//! so that a loop of unifiedorders (anyone can reach a sandbox) cannot exhaust memory.

use crate::channel::wechat::sign::SignType;
use crate::channel::wechat::xml::Fields;
use crate::channel::wechat::TradeType;
use chrono::NaiveDateTime;
use std::collections::{HashMap, VecDeque};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeState {
    NotPay,
    Success,
    Closed,
}

impl TradeState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeState::NotPay => "NOTPAY",
            TradeState::Success => "SUCCESS",
            TradeState::Closed => "CLOSED",
        }
    }
}

pub use crate::channel::sandbox_notify::NotifyAttempt;

#[derive(Debug, Clone)]
pub struct Trade {
    pub out_trade_no: String,
    pub trade_type: TradeType,
    /// The business fields of the unifiedorder (no appid, mch_id, nonce_str, sign, sign_type):
    /// a reused out_trade_no must come with exactly these.
    pub params: Fields,
    pub sign_type: SignType,
    pub total_fee: i64,
    pub notify_url: String,
    pub time_expire: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub prepay_id: String,
    pub code_url: Option<String>,
    pub mweb_url: Option<String>,
    pub state: TradeState,
    pub transaction_id: Option<String>,
    pub time_end: Option<String>,
    pub openid: Option<String>,
    pub notify_attempts: Vec<NotifyAttempt>,
    pub notify_acknowledged: bool,
    /// How many unifiedorder calls named this out_trade_no (the first included).
    pub unifiedorder_calls: u32,
}

/// How many trades a sandbox keeps by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

pub struct TradeBook {
    capacity: usize,
    by_out_trade_no: HashMap<String, Trade>,
    /// out_trade_no, oldest first.
    age_order: VecDeque<String>,
    by_code_url: HashMap<String, String>,
}

impl TradeBook {
    pub fn new(capacity: usize) -> TradeBook {
        TradeBook {
            capacity: capacity.max(1),
            by_out_trade_no: HashMap::new(),
            age_order: VecDeque::new(),
            by_code_url: HashMap::new(),
        }
    }

    pub fn get(&self, out_trade_no: &str) -> Option<&Trade> {
        self.by_out_trade_no.get(out_trade_no)
    }

    pub fn get_mut(&mut self, out_trade_no: &str) -> Option<&mut Trade> {
        self.by_out_trade_no.get_mut(out_trade_no)
    }

    pub fn by_code_url(&self, code_url: &str) -> Option<&Trade> {
        self.by_code_url
            .get(code_url)
            .and_then(|no| self.by_out_trade_no.get(no))
    }

    pub fn values(&self) -> impl Iterator<Item = &Trade> {
        self.by_out_trade_no.values()
    }

    /// Adds a new trade, forgetting the oldest ones beyond the capacity.
    pub fn insert(&mut self, trade: Trade) {
        while self.by_out_trade_no.len() >= self.capacity {
            let Some(oldest) = self.age_order.pop_front() else {
                break;
            };
            if let Some(gone) = self.by_out_trade_no.remove(&oldest) {
                if let Some(code_url) = &gone.code_url {
                    self.by_code_url.remove(code_url);
                }
            }
        }
        if let Some(code_url) = &trade.code_url {
            self.by_code_url
                .insert(code_url.clone(), trade.out_trade_no.clone());
        }
        self.age_order.push_back(trade.out_trade_no.clone());
        self.by_out_trade_no
            .insert(trade.out_trade_no.clone(), trade);
    }
}
