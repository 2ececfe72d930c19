//! An independent WeChat Pay v2 client, written in the test from the protocol's rules (not
//! with the service's signer or codec), to prove the sandbox speaks the real protocol.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use std::collections::HashMap;

pub const APP_ID: &str = "wxd930ea5d5a258f4f";
pub const MCH_ID: &str = "10000100";
pub const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

/// Sort the non-empty fields but `sign` by name, `k=v&…&key=KEY`, digest, upper-case hex.
pub fn sign(fields: &[(String, String)], key: &str, hmac: bool) -> String {
    let mut pairs: Vec<&(String, String)> = fields
        .iter()
        .filter(|(k, v)| k != "sign" && !v.is_empty())
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut text = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    text.push_str("&key=");
    text.push_str(key);
    let digest = if hmac {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(text.as_bytes());
        mac.finalize().into_bytes().to_vec()
    } else {
        Md5::digest(text.as_bytes()).to_vec()
    };
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

/// A signed request body with the sandbox account's envelope around `fields`.
pub fn request(fields: &[(&str, &str)], hmac: bool) -> String {
    let mut all: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.push(("appid".into(), APP_ID.into()));
    all.push(("mch_id".into(), MCH_ID.into()));
    all.push((
        "nonce_str".into(),
        "5K8264ILTKCH16CQ2502SI8ZNMTM67VS".into(),
    ));
    if hmac {
        all.push(("sign_type".into(), "HMAC-SHA256".into()));
    }
    let signature = sign(&all, KEY, hmac);
    all.push(("sign".into(), signature));
    to_xml(&all)
}

pub fn to_xml(fields: &[(String, String)]) -> String {
    let mut xml = String::from("<xml>");
    for (k, v) in fields {
        // Plain text, escaped: the way many SDKs write (and not what our codec writes).
        let v = v
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        xml.push_str(&format!("<{k}>{v}</{k}>"));
    }
    xml.push_str("</xml>");
    xml
}

/// Reads a flat `<xml>` whose values are CDATA or plain text.
pub fn parse(xml: &str) -> HashMap<String, String> {
    let inner = xml
        .trim()
        .strip_prefix("<xml>")
        .and_then(|s| s.strip_suffix("</xml>"))
        .unwrap_or_else(|| panic!("not a flat <xml>: {xml}"));
    let mut fields = HashMap::new();
    let mut rest = inner;
    while let Some(open) = rest.find('<') {
        let name_end = rest[open..].find('>').unwrap() + open;
        let name = &rest[open + 1..name_end];
        let close = format!("</{name}>");
        let value_end = rest[name_end..].find(&close).unwrap() + name_end;
        let raw = &rest[name_end + 1..value_end];
        let value = match raw
            .strip_prefix("<![CDATA[")
            .and_then(|v| v.strip_suffix("]]>"))
        {
            Some(cdata) => cdata.to_owned(),
            None => raw
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        };
        fields.insert(name.to_owned(), value);
        rest = &rest[value_end + close.len()..];
    }
    fields
}

/// Whether `fields` carries a valid signature, checked over every field received.
pub fn verifies(fields: &HashMap<String, String>, key: &str) -> bool {
    let hmac = fields.get("sign_type").map(String::as_str) == Some("HMAC-SHA256");
    let pairs: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    fields.get("sign") == Some(&sign(&pairs, key, hmac))
}

#[test]
fn the_independent_signer_matches_wechats_documentation() {
    let fields: Vec<(String, String)> = [
        ("appid", "wxd930ea5d5a258f4f"),
        ("mch_id", "10000100"),
        ("device_info", "1000"),
        ("body", "test"),
        ("nonce_str", "ibuaiVcKdpRxkhJA"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        sign(&fields, KEY, false),
        "9A0A8659F005D6984697E2CA0A9CF3B7"
    );
    assert_eq!(
        sign(&fields, KEY, true),
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    );
}

/// A payment notify as WeChat sends it, signed with the sandbox account's key.
pub fn notify_xml(
    out_trade_no: &str,
    transaction_id: &str,
    total_fee: &str,
    extra: &[(&str, &str)],
    hmac: bool,
) -> String {
    notify_xml_signed_with(KEY, out_trade_no, transaction_id, total_fee, extra, hmac)
}

/// The same notify, signed with `key`.
pub fn notify_xml_signed_with(
    key: &str,
    out_trade_no: &str,
    transaction_id: &str,
    total_fee: &str,
    extra: &[(&str, &str)],
    hmac: bool,
) -> String {
    let mut fields: Vec<(String, String)> = [
        ("appid", APP_ID),
        ("mch_id", MCH_ID),
        ("nonce_str", "5d2b6c2a8db53831f7eda20af46e531c"),
        ("return_code", "SUCCESS"),
        ("result_code", "SUCCESS"),
        ("openid", "oUpF8uMEb4qRXf22hE3X68TekukE"),
        ("is_subscribe", "N"),
        ("trade_type", "NATIVE"),
        ("bank_type", "CMC"),
        ("total_fee", total_fee),
        ("cash_fee", total_fee),
        ("fee_type", "CNY"),
        ("transaction_id", transaction_id),
        ("out_trade_no", out_trade_no),
        ("time_end", "20261122141319"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        fields.retain(|(name, _)| name != k);
        fields.push((k.to_string(), v.to_string()));
    }
    if hmac && !fields.iter().any(|(k, _)| k == "sign_type") {
        fields.push(("sign_type".into(), "HMAC-SHA256".into()));
    }
    let signature = sign(&fields, key, hmac);
    fields.push(("sign".into(), signature));
    to_xml(&fields)
}
