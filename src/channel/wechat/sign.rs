//! WeChat Pay v2 signatures, one function for every use: our requests, WeChat's replies and
//! notifies, the sandbox, and the merchant webhooks (HMAC-SHA256 keyed by the notify secret).
//!
//! The rule: every field but `sign` whose value is not empty, sorted by name (byte order),
//! joined as `k=v&k=v` with raw values, then `&key=<key>`; MD5 of that, or HMAC-SHA256 keyed by
//! the key over that same string; upper-case hex.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignType {
    Md5,
    HmacSha256,
}

impl SignType {
    pub fn parse(s: &str) -> Option<SignType> {
        match s {
            "MD5" => Some(SignType::Md5),
            "HMAC-SHA256" => Some(SignType::HmacSha256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignType::Md5 => "MD5",
            SignType::HmacSha256 => "HMAC-SHA256",
        }
    }
}

/// The string that is hashed, `…&key=<key>`: it contains the key, so it is never logged.
pub fn string_to_sign<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    key: &str,
) -> String {
    let mut sorted: Vec<(&str, &str)> = fields
        .into_iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .collect();
    sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::with_capacity(256);
    for (k, v) in sorted {
        out.push_str(k);
        out.push('=');
        out.push_str(v);
        out.push('&');
    }
    out.push_str("key=");
    out.push_str(key);
    out
}

pub fn sign_fields<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    key: &str,
    sign_type: SignType,
) -> String {
    let payload = string_to_sign(fields, key);
    match sign_type {
        SignType::Md5 => hex::encode_upper(Md5::digest(payload.as_bytes())),
        SignType::HmacSha256 => {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
            mac.update(payload.as_bytes());
            hex::encode_upper(mac.finalize().into_bytes())
        }
    }
}

pub fn sign(fields: &BTreeMap<String, String>, key: &str, sign_type: SignType) -> String {
    sign_fields(
        fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        key,
        sign_type,
    )
}

/// Whether `fields["sign"]` is the signature of all the other fields received, known or
/// not. Compared in constant time; hex case is ignored.
pub fn verify(fields: &BTreeMap<String, String>, key: &str, sign_type: SignType) -> bool {
    match fields.get("sign") {
        Some(presented) if !presented.is_empty() => {
            let expected = sign(fields, key, sign_type);
            constant_time_eq(
                presented.to_ascii_uppercase().as_bytes(),
                expected.as_bytes(),
            )
        }
        _ => false,
    }
}

/// Equal length and equal bytes, taking the same time whichever byte differs.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    //! Vectors from WeChat's documentation and wechatpy's test suite.
    use super::*;

    const DOC_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn doc_example() -> BTreeMap<String, String> {
        map(&[
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ])
    }

    #[test]
    fn wechat_documentation_example() {
        let fields = doc_example();
        assert_eq!(
            string_to_sign(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())), DOC_KEY),
            "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=192006250b4c09247ec02edce69f6a2d"
        );
        assert_eq!(
            sign(&fields, DOC_KEY, SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
        assert_eq!(
            sign(&fields, DOC_KEY, SignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    #[test]
    fn wechatpy_vector() {
        let fields = map(&[("test1", "test1"), ("test2", "test2")]);
        assert_eq!(
            sign(&fields, DOC_KEY, SignType::Md5),
            "1E3A8D73B5A4AEE787C0F68B5DAB8520"
        );
        assert_eq!(
            sign(&fields, DOC_KEY, SignType::HmacSha256),
            "EDAC6D70D2FDF5A2382F8204FC96A1918017E46ACC5297F565ED1A7610ACF659"
        );
    }

    #[test]
    fn mini_program_pay_sign_vector() {
        let fields = map(&[
            ("appId", "wxd678efh567hg6787"),
            ("nonceStr", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
            ("package", "prepay_id=wx2017033010242291fcfe0db70013231072"),
            ("signType", "MD5"),
            ("timeStamp", "1490840662"),
        ]);
        assert_eq!(
            sign(&fields, "qazwsxedcrfvtgbyhnujmikolp111111", SignType::Md5),
            "22D9B4E54AB1950F51E0649E8810ACD6"
        );
    }

    #[test]
    fn empty_values_and_sign_are_skipped_but_zero_is_a_value() {
        let mut fields = doc_example();
        let expected = sign(&fields, DOC_KEY, SignType::Md5);
        fields.insert("attach".into(), String::new());
        fields.insert("sign".into(), "whatever".into());
        assert_eq!(sign(&fields, DOC_KEY, SignType::Md5), expected);
        fields.insert("coupon_fee".into(), "0".into());
        assert_ne!(sign(&fields, DOC_KEY, SignType::Md5), expected);
    }

    #[test]
    fn sorting_is_by_bytes_so_upper_case_comes_first() {
        let fields = map(&[("b", "1"), ("B", "2"), ("a", "3")]);
        assert_eq!(
            string_to_sign(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())), "k"),
            "B=2&a=3&b=1&key=k"
        );
    }

    #[test]
    fn verify_covers_every_field_received() {
        let mut fields = doc_example();
        fields.insert("rate_value".into(), "unknown-to-us".into());
        let signature = sign(&fields, DOC_KEY, SignType::HmacSha256);
        fields.insert("sign".into(), signature.clone());
        assert!(verify(&fields, DOC_KEY, SignType::HmacSha256));
        assert!(
            !verify(&fields, DOC_KEY, SignType::Md5),
            "the other type does not verify"
        );
        fields.insert("sign".into(), signature.to_lowercase());
        assert!(
            verify(&fields, DOC_KEY, SignType::HmacSha256),
            "hex case is ignored"
        );
        fields.insert("rate_value".into(), "tampered".into());
        assert!(!verify(&fields, DOC_KEY, SignType::HmacSha256));
        fields.remove("sign");
        assert!(
            !verify(&fields, DOC_KEY, SignType::HmacSha256),
            "no sign, no trust"
        );
    }

    #[test]
    fn constant_time_eq_compares_all_bytes() {
        assert!(constant_time_eq(b"ABC", b"ABC"));
        assert!(!constant_time_eq(b"ABC", b"ABD"));
        assert!(!constant_time_eq(b"ABC", b"AB"));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn what_is_signed_verifies_and_nothing_else_does(
            fields in prop::collection::btree_map("[A-Za-z_]{1,16}", ".{0,32}", 1..12),
            key in "[A-Za-z0-9]{32}",
            hmac in any::<bool>(),
        ) {
            let sign_type = if hmac { SignType::HmacSha256 } else { SignType::Md5 };
            let mut signed = fields.clone();
            signed.remove("sign");
            let signature = sign(&signed, &key, sign_type);
            prop_assert_eq!(signature.len(), if hmac { 64 } else { 32 });
            prop_assert!(signature.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
            signed.insert("sign".into(), signature);
            prop_assert!(verify(&signed, &key, sign_type));
            let other = if hmac { SignType::Md5 } else { SignType::HmacSha256 };
            prop_assert!(!verify(&signed, &key, other));
            let mut wrong_key = key.clone();
            wrong_key.push('x');
            prop_assert!(!verify(&signed, &wrong_key, sign_type));
        }

        #[test]
        fn empty_fields_and_input_order_do_not_change_the_signature(
            pairs in prop::collection::vec(("[A-Za-z_]{1,8}", "[^&=]{1,8}"), 1..10),
            empties in prop::collection::vec("[A-Za-z_]{1,8}", 0..4),
        ) {
            let unique: BTreeMap<String, String> = pairs.iter().cloned().collect();
            let forward = sign_fields(unique.iter().map(|(k, v)| (k.as_str(), v.as_str())), "k", SignType::Md5);
            let backward = sign_fields(unique.iter().rev().map(|(k, v)| (k.as_str(), v.as_str())), "k", SignType::Md5);
            prop_assert_eq!(&forward, &backward);
            let mut with_empties = unique.clone();
            for name in empties {
                with_empties.entry(name).or_default();
            }
            prop_assert_eq!(sign(&with_empties, "k", SignType::Md5), forward);
        }
    }
}
