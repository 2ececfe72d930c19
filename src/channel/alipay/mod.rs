//! Alipay Open Platform (RSA2, JSON gateway): signatures, yuan amounts, the form codec, the
//! gateway client, the adapter in the service's terms, and the sandbox.
//!
//! `sign` is the only module touching key material, `amount` keeps money out of floating
//! point, and `form` is the strict codec for notify and gateway bodies.

pub mod adapter;
pub mod amount;
pub mod client;
mod der;
pub mod form;
pub mod sandbox;
pub mod sign;

pub use adapter::AlipayChannel;
pub use client::{AlipayClient, AlipayConfig, PRODUCTION_GATEWAY};

use chrono::{Duration, NaiveDateTime};

/// Alipay's times are Beijing time (UTC+8) as `yyyy-MM-dd HH:mm:ss`.
pub fn beijing_time(utc: NaiveDateTime) -> String {
    (utc + Duration::hours(8))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

pub fn parse_beijing_time(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t - Duration::hours(8))
}

/// The RSA2 test vectors (`alipay_rsa2.json`: gopay, python-alipay-sdk), one unit test per
/// case, and the key-format tests.
#[cfg(test)]
mod sign_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn beijing_time_is_utc_plus_eight() {
        let utc = NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(20, 13, 19)
            .unwrap();
        assert_eq!(beijing_time(utc), "2026-11-23 04:13:19");
        assert_eq!(parse_beijing_time("2026-11-23 04:13:19"), Some(utc));
        assert_eq!(parse_beijing_time("20261123041319"), None);
    }
}
