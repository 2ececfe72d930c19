use chrono::NaiveDateTime;
use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;
use sha2::{Digest, Sha256};
use std::fmt;

/// `len` characters of `[A-Za-z0-9]` from the thread's CSPRNG (≈5.95 bits each).
pub fn random_string(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

fn random_upper(len: usize) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// The payment center's order id: `PC` + UTC `yyyyMMddHHmmss` + 12 random characters
/// (62 bits): 28 characters, within WeChat's 32 for `out_trade_no`, and sortable by time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderId(String);

impl OrderId {
    pub fn generate(now: NaiveDateTime) -> OrderId {
        OrderId(format!(
            "PC{}{}",
            now.format("%Y%m%d%H%M%S"),
            random_upper(12)
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The storefront's capability for one order: 32 alphanumerics (190 bits) after `ct_`.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckoutToken(String);

impl CheckoutToken {
    pub fn generate() -> CheckoutToken {
        CheckoutToken(format!("ct_{}", random_string(32)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CheckoutToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckoutToken(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantId(String);

impl MerchantId {
    pub fn generate() -> MerchantId {
        MerchantId(format!("mch_{}", random_string(16).to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A merchant's secret API key: `sk_` + 40 alphanumerics (238 bits). Only its SHA-256 is stored.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn generate() -> ApiKey {
        ApiKey(format!("sk_{}", random_string(40)))
    }

    pub fn from_presented(key: &str) -> ApiKey {
        ApiKey(key.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Lower-case hex SHA-256: what the merchants table keeps and looks the key up by.
    pub fn hash(&self) -> String {
        hex_digest(&Self::digest_presented(&self.0))
    }

    /// The SHA-256 of a presented key, as the kept merchants are found by: borrowed from the
    /// request, no copy of the key and no hex.
    pub fn digest_presented(key: &str) -> [u8; 32] {
        Sha256::digest(key.as_bytes()).into()
    }
}

/// Lower-case hex of a SHA-256 digest, as the merchants table keeps it.
pub fn hex_digest(digest: &[u8; 32]) -> String {
    // Hex through a table into a buffer, not `hex::encode`'s char-by-char collect.
    let mut hex = [0u8; 64];
    hex::encode_to_slice(digest, &mut hex).expect("a SHA-256 digest is 64 hex digits");
    std::str::from_utf8(&hex)
        .expect("hex digits are ASCII")
        .to_owned()
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The key of the HMAC on every webhook sent to one merchant: 32 alphanumerics, the shape of
/// a WeChat Pay API key, so merchants reuse their WeChat verification code unchanged.
#[derive(Clone)]
pub struct NotifySecret(String);

impl NotifySecret {
    pub fn generate() -> NotifySecret {
        NotifySecret(random_string(32))
    }

    pub fn from_stored(secret: String) -> NotifySecret {
        NotifySecret(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NotifySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NotifySecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_id_fits_out_trade_no() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(6, 13, 19)
            .unwrap();
        let id = OrderId::generate(t);
        assert_eq!(id.as_str().len(), 28);
        assert!(id.as_str().starts_with("PC20261122061319"));
        assert!(id.as_str().chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = CheckoutToken::generate();
        let b = CheckoutToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 35);
        assert_eq!(ApiKey::generate().expose().len(), 43);
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let key = ApiKey::generate();
        let secret = NotifySecret::generate();
        let token = CheckoutToken::generate();
        assert!(!format!("{key:?}").contains(key.expose()));
        assert!(!format!("{secret:?}").contains(secret.expose()));
        assert!(!format!("{token:?}").contains(token.as_str()));
    }

    #[test]
    fn api_key_hash_is_sha256_hex() {
        assert_eq!(
            ApiKey::from_presented("abc").hash(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
