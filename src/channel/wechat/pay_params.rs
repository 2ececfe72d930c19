//! What a payer's client takes to pay a prepay_id, signed like every v2 message.

use super::sign::sign_fields;
use super::WechatConfig;
use crate::domain::random_string;
use serde_json::{json, Value};

/// `wx.requestPayment` (mini-program) / `WeixinJSBridge.invoke('getBrandWCPayRequest')`
/// (official account): appId, timeStamp, nonceStr, package, signType, paySign.
pub fn jsapi(config: &WechatConfig, prepay_id: &str, timestamp: i64) -> Value {
    let time_stamp = timestamp.to_string();
    let nonce_str = random_string(32);
    let package = format!("prepay_id={prepay_id}");
    let sign_type = config.sign_type.as_str();
    let fields = [
        ("appId", config.app_id.as_str()),
        ("timeStamp", time_stamp.as_str()),
        ("nonceStr", nonce_str.as_str()),
        ("package", package.as_str()),
        ("signType", sign_type),
    ];
    let pay_sign = sign_fields(fields, &config.api_key, config.sign_type);
    json!({
        "appId": config.app_id,
        "timeStamp": time_stamp,
        "nonceStr": nonce_str,
        "package": package,
        "signType": sign_type,
        "paySign": pay_sign,
    })
}

/// The WeChat Open SDK's `PayReq`: appid, partnerid, prepayid, package, noncestr, timestamp,
/// sign.
pub fn app(config: &WechatConfig, prepay_id: &str, timestamp: i64) -> Value {
    let timestamp = timestamp.to_string();
    let noncestr = random_string(32);
    let fields = [
        ("appid", config.app_id.as_str()),
        ("partnerid", config.mch_id.as_str()),
        ("prepayid", prepay_id),
        ("package", "Sign=WXPay"),
        ("noncestr", noncestr.as_str()),
        ("timestamp", timestamp.as_str()),
    ];
    let sign = sign_fields(fields, &config.api_key, config.sign_type);
    json!({
        "appid": config.app_id,
        "partnerid": config.mch_id,
        "prepayid": prepay_id,
        "package": "Sign=WXPay",
        "noncestr": noncestr,
        "timestamp": timestamp,
        "sign": sign,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::wechat::sign::{self, SignType};
    use std::collections::BTreeMap;

    fn config(sign_type: SignType) -> WechatConfig {
        WechatConfig {
            app_id: "wxd678efh567hg6787".into(),
            mch_id: "1230000109".into(),
            api_key: "qazwsxedcrfvtgbyhnujmikolp111111".into(),
            api_base: String::new(),
            sign_type,
        }
    }

    fn as_fields(v: &Value, skip: &str) -> BTreeMap<String, String> {
        v.as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.as_str() != skip)
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn jsapi_pay_sign_follows_the_mini_program_vector_rule() {
        // The vector's own fields give the vector's own paySign through the same signer.
        let vector: BTreeMap<String, String> = [
            ("appId", "wxd678efh567hg6787"),
            ("nonceStr", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
            ("package", "prepay_id=wx2017033010242291fcfe0db70013231072"),
            ("signType", "MD5"),
            ("timeStamp", "1490840662"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            sign::sign(&vector, "qazwsxedcrfvtgbyhnujmikolp111111", SignType::Md5),
            "22D9B4E54AB1950F51E0649E8810ACD6"
        );
        // And what we hand out verifies by that rule.
        let params = jsapi(
            &config(SignType::Md5),
            "wx2017033010242291fcfe0db70013231072",
            1490840662,
        );
        assert_eq!(
            params["package"],
            "prepay_id=wx2017033010242291fcfe0db70013231072"
        );
        assert_eq!(params["signType"], "MD5");
        let mut fields = as_fields(&params, "paySign");
        fields.insert("sign".into(), params["paySign"].as_str().unwrap().into());
        assert!(sign::verify(
            &fields,
            "qazwsxedcrfvtgbyhnujmikolp111111",
            SignType::Md5
        ));
    }

    #[test]
    fn app_params_are_signed_with_the_configured_type() {
        let params = app(
            &config(SignType::HmacSha256),
            "wx201410272009395522657a690389285100",
            1412000000,
        );
        assert_eq!(params["package"], "Sign=WXPay");
        assert_eq!(params["partnerid"], "1230000109");
        let mut fields = as_fields(&params, "sign");
        fields.insert("sign".into(), params["sign"].as_str().unwrap().into());
        assert!(sign::verify(
            &fields,
            "qazwsxedcrfvtgbyhnujmikolp111111",
            SignType::HmacSha256
        ));
    }
}
