//! A simulated Alipay Open Platform gateway at `/sandbox/alipay/gateway.do`, faithful enough
//! that a standard Alipay SDK pointed at it works unchanged: requests verified with the
//! sandbox app's public key (RSA2), required parameters and `biz_content` fields enforced,
//! Alipay's codes (`isv.invalid-signature`, `ACQ.TRADE_NOT_EXIST`, `ACQ.TRADE_HAS_SUCCESS`,
//! `ACQ.TRADE_STATUS_ERROR`…), every attributable answer signed over the exact `*_response`
//! text. `simulate-pay` plays the shopper; the signed notify then goes to the trade's
//! `notify_url` on Alipay's schedule until `success` comes back. Page and wap pay land on a
//! sandbox cashier page whose button pays and returns the browser to `return_url`.
//!
//! The keys are fixed test keys shipped with the project (`payment-center sandbox keys`
//! prints them): never used in live mode, where a live process has no `/sandbox` path.

mod api;
mod cashier;
mod notifier;
mod trades;

pub use api::{configure, ROUTES};
pub use trades::{AlipaySandbox, AlipaySandboxConfig};

/// Where the sandbox is mounted.
pub const MOUNT: &str = "/sandbox/alipay";

/// The sandbox app (what a merchant's client signs with) and the sandbox's stand-in for
/// Alipay's own key pair (what answers and notifies are signed with).
pub const APP_ID: &str = "2021000000000001";
pub const SELLER_ID: &str = "2088000000000001";
pub const APP_PRIVATE_KEY: &str = include_str!("keys/app_private.pem");
pub const APP_PUBLIC_KEY: &str = include_str!("keys/app_public.pem");
pub const ALIPAY_PRIVATE_KEY: &str = include_str!("keys/alipay_private.pem");
pub const ALIPAY_PUBLIC_KEY: &str = include_str!("keys/alipay_public.pem");

/// Alipay's notify schedule: again after 4m, 10m, 10m, 1h, 2h, 6h, 15h.
pub const NOTIFY_SCHEDULE_SECONDS: [u64; 7] = [240, 600, 600, 3600, 7200, 21600, 54000];

/// The sandbox's keys, parsed.
pub struct SandboxKeys {
    pub app_private_key: std::sync::Arc<super::sign::PrivateKey>,
    pub app_public_key: super::sign::PublicKey,
    pub alipay_private_key: std::sync::Arc<super::sign::PrivateKey>,
    pub alipay_public_key: super::sign::PublicKey,
}

pub fn keys() -> SandboxKeys {
    use super::sign::{PrivateKey, PublicKey};
    let private = |pem| {
        std::sync::Arc::new(
            PrivateKey::from_pem(pem).expect("a shipped sandbox key parses (tested)"),
        )
    };
    let public = |pem| PublicKey::from_pem(pem).expect("a shipped sandbox key parses (tested)");
    SandboxKeys {
        app_private_key: private(APP_PRIVATE_KEY),
        app_public_key: public(APP_PUBLIC_KEY),
        alipay_private_key: private(ALIPAY_PRIVATE_KEY),
        alipay_public_key: public(ALIPAY_PUBLIC_KEY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_keys_parse_and_pair() {
        let keys = keys();
        assert_eq!(keys.app_private_key.public_key(), keys.app_public_key);
        assert_eq!(keys.alipay_private_key.public_key(), keys.alipay_public_key);
        assert_ne!(keys.app_public_key, keys.alipay_public_key);
    }
}
