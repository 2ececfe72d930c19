use crate::channel::wechat::sign::{self, SignType};
use crate::domain::random_string;

pub const FORM_SIGN_TYPE: &str = "HMAC-SHA256";

/// The form of one delivery attempt: the event's fields, `notifyId`, `timestamp`,
/// `nonceStr`, `signType` and `sign`, signed exactly like a WeChat Pay v2 HMAC-SHA256
/// signature keyed by the merchant's notify secret (empty fields are left out of the form
/// as they are out of the signature).
pub fn signed_form(
    payload: &serde_json::Map<String, serde_json::Value>,
    notify_id: &str,
    timestamp: i64,
    notify_secret: &str,
) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = payload
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    fields.push(("notifyId".into(), notify_id.to_owned()));
    fields.push(("timestamp".into(), timestamp.to_string()));
    fields.push(("nonceStr".into(), random_string(32)));
    fields.push(("signType".into(), FORM_SIGN_TYPE.into()));
    let signature = sign::sign_fields(
        fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        notify_secret,
        SignType::HmacSha256,
    );
    fields.push(("sign".into(), signature));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use serde_json::json;
    use sha2::Sha256;

    #[test]
    fn the_form_is_signed_by_the_documented_rule() {
        let payload = json!({"merchantOrderId": "m1", "amount": "1", "transactionId": ""});
        let form = signed_form(payload.as_object().unwrap(), "wh_1", 1700000000, "secret");
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("transactionId"), None, "empty fields are left out");
        let nonce = get("nonceStr").unwrap();
        assert_eq!(nonce.len(), 32);
        let text = format!(
            "amount=1&merchantOrderId=m1&nonceStr={nonce}&notifyId=wh_1&signType=HMAC-SHA256&timestamp=1700000000&key=secret"
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(text.as_bytes());
        assert_eq!(
            get("sign").unwrap(),
            hex::encode_upper(mac.finalize().into_bytes())
        );
    }
}
