//! A simulated WeChat Pay v2, faithful enough that any v2 client works against it unchanged:
//! the real paths, XML, signatures (MD5 and HMAC-SHA256), required fields, `out_trade_no`
//! rules, WeChat's `return_code` / `result_code` / `err_code` answers and signed replies.
//! `simulate-pay` plays the shopper; the signed notify then goes to the trade's `notify_url`,
//! repeated on WeChat's schedule until acknowledged.
//!
//! Trades live in this process's memory: one sandbox per process. Several service instances
//! share one sandbox by running `payment-center sandbox` once and pointing `WECHAT_API_BASE`
//! at it.

mod api;
mod book;
mod notifier;
mod trades;

pub use api::{configure, ROUTES};
pub use book::DEFAULT_CAPACITY;
pub use trades::{Sandbox, SandboxConfig};

/// Where the sandbox is mounted in the service (and in `payment-center sandbox`).
pub const MOUNT: &str = "/sandbox/wechat";
