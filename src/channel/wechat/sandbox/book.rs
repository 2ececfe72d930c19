//! The sandbox's trades, in memory and bounded: past `capacity` the oldest trade is forgotten,
//! so that a loop of unifiedorders (anyone can reach a sandbox) cannot exhaust memory.

use super::trades::Trade;
use std::collections::{HashMap, VecDeque};

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
