//! WeChat's payment notify: every check before anything is recorded, in the order that
//! tells a forged or mistaken message apart from a payment.

use super::sign::{self, SignType};
use super::xml::Fields;
use super::{parse_beijing_time, WechatConfig};
use crate::channel::{ChannelId, PaymentSource, Rejection, RejectionKind, ReportedPayment};
use crate::domain::time;

/// Checks a decoded notify; `Err` is why it is refused (answered in `return_msg`).
pub fn check(fields: &Fields, config: &WechatConfig) -> Result<ReportedPayment, Rejection> {
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let refuse = |kind, reason: String| {
        let named = |k: &str| Some(get(k).to_owned()).filter(|v| !v.is_empty());
        Rejection {
            kind,
            reason,
            out_trade_no: named("out_trade_no"),
            transaction_id: named("transaction_id"),
        }
    };
    // Without these it cannot be WeChat's: a forgery, not an "unsigned" notify.
    for name in ["appid", "mch_id", "sign"] {
        if get(name).is_empty() {
            return Err(refuse(
                RejectionKind::Forged,
                format!("missing {name}: not a WeChat notify"),
            ));
        }
    }
    if get("appid") != config.app_id {
        return Err(refuse(
            RejectionKind::Account,
            format!("appid {} is not ours", get("appid")),
        ));
    }
    if get("mch_id") != config.mch_id {
        return Err(refuse(
            RejectionKind::Account,
            format!("mch_id {} is not ours", get("mch_id")),
        ));
    }
    // The notify's own sign_type when present (orders placed with HMAC-SHA256 are notified
    // with it), else the configured one; the signature covers every field received.
    let sign_type = match get("sign_type") {
        "" => config.sign_type,
        s => SignType::parse(s)
            .ok_or_else(|| refuse(RejectionKind::Signature, format!("unknown sign_type {s}")))?,
    };
    if !sign::verify(fields, &config.api_key, sign_type) {
        return Err(refuse(
            RejectionKind::Signature,
            "signature does not verify".into(),
        ));
    }
    // Only both SUCCESS is a payment.
    if get("return_code") != "SUCCESS" || get("result_code") != "SUCCESS" {
        return Err(refuse(
            RejectionKind::NotSuccess,
            format!(
                "not a successful payment (return_code={}, result_code={}, err_code={})",
                get("return_code"),
                get("result_code"),
                get("err_code")
            ),
        ));
    }
    let out_trade_no = get("out_trade_no");
    let transaction_id = get("transaction_id");
    if out_trade_no.is_empty() || transaction_id.is_empty() {
        return Err(refuse(
            RejectionKind::Other,
            "missing out_trade_no or transaction_id".into(),
        ));
    }
    let total_fee = get("total_fee")
        .parse::<i64>()
        .ok()
        .filter(|f| *f > 0)
        .ok_or_else(|| {
            refuse(
                RejectionKind::Amount,
                format!("total_fee {:?} is not a positive integer", get("total_fee")),
            )
        })?;
    Ok(ReportedPayment {
        channel: ChannelId::Wechat,
        out_trade_no: out_trade_no.to_owned(),
        transaction_id: transaction_id.to_owned(),
        amount: total_fee,
        paid_at: parse_beijing_time(get("time_end")).unwrap_or_else(time::now),
        source: PaymentSource::Notify,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::wechat::{SANDBOX_API_KEY, SANDBOX_APP_ID, SANDBOX_MCH_ID};

    fn config() -> WechatConfig {
        WechatConfig {
            app_id: SANDBOX_APP_ID.into(),
            mch_id: SANDBOX_MCH_ID.into(),
            api_key: SANDBOX_API_KEY.into(),
            api_base: String::new(),
            sign_type: SignType::Md5,
        }
    }

    fn notify(extra: &[(&str, &str)], sign_type: SignType) -> Fields {
        let mut fields: Fields = [
            ("appid", SANDBOX_APP_ID),
            ("mch_id", SANDBOX_MCH_ID),
            ("return_code", "SUCCESS"),
            ("result_code", "SUCCESS"),
            ("out_trade_no", "PC1"),
            ("transaction_id", "4200000001"),
            ("total_fee", "1"),
            ("time_end", "20261122141319"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = sign::sign(&fields, SANDBOX_API_KEY, sign_type);
        fields.insert("sign".into(), s);
        fields
    }

    #[test]
    fn a_good_notify_is_a_payment_at_time_end() {
        let payment = check(&notify(&[], SignType::Md5), &config()).unwrap();
        assert_eq!(payment.amount, 1);
        assert_eq!(time::rfc3339(payment.paid_at), "2026-11-22T06:13:19Z");
    }

    #[test]
    fn fields_we_do_not_know_are_signed_too() {
        let fields = notify(&[("rate_value", "1"), ("coupon_fee_0", "0")], SignType::Md5);
        assert!(check(&fields, &config()).is_ok());
    }

    #[test]
    fn the_notifys_sign_type_wins_over_the_configured_one() {
        let fields = notify(&[("sign_type", "HMAC-SHA256")], SignType::HmacSha256);
        assert!(check(&fields, &config()).is_ok());
        let lying = notify(&[("sign_type", "HMAC-SHA256")], SignType::Md5);
        assert_eq!(
            check(&lying, &config()).unwrap_err().reason,
            "signature does not verify"
        );
    }

    #[test]
    fn return_success_alone_is_not_a_payment() {
        let fields = notify(&[("result_code", "FAIL"), ("err_code", "X")], SignType::Md5);
        // `chain` put result_code twice; the later one wins in the map.
        assert!(check(&fields, &config())
            .unwrap_err()
            .reason
            .starts_with("not a successful payment"));
    }

    #[test]
    fn missing_identity_is_a_forgery() {
        let mut fields = notify(&[], SignType::Md5);
        fields.remove("sign");
        assert_eq!(
            check(&fields, &config()).unwrap_err().reason,
            "missing sign: not a WeChat notify"
        );
        let mut fields = notify(&[], SignType::Md5);
        fields.remove("appid");
        assert_eq!(
            check(&fields, &config()).unwrap_err().reason,
            "missing appid: not a WeChat notify"
        );
    }
}

/// The fuzz target of the notify path, as properties: whatever the bytes, parsing and checking
/// never panic and never accept a payment that is not signed with our key. (cargo-fuzz needs a
/// nightly toolchain, which this project's machines cannot fetch; `PROPTEST_CASES=200000
/// cargo test --release --lib core::notify` is the long run, see the README.)
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::channel::wechat::xml;
    use crate::channel::wechat::{SANDBOX_API_KEY, SANDBOX_APP_ID, SANDBOX_MCH_ID};
    use proptest::prelude::*;

    fn config() -> WechatConfig {
        WechatConfig {
            app_id: SANDBOX_APP_ID.into(),
            mch_id: SANDBOX_MCH_ID.into(),
            api_key: SANDBOX_API_KEY.into(),
            api_base: String::new(),
            sign_type: SignType::Md5,
        }
    }

    fn payment_fields() -> impl Strategy<Value = Fields> {
        (
            "[A-Za-z0-9_-]{1,32}",
            "[0-9]{1,28}",
            1i64..=100_000_000,
            prop::collection::btree_map("[a-z_]{1,12}", ".{0,24}", 0..6),
        )
            .prop_map(|(out_trade_no, transaction_id, fee, extra)| {
                let mut fields: Fields = extra;
                for (k, v) in [
                    ("appid", SANDBOX_APP_ID.to_owned()),
                    ("mch_id", SANDBOX_MCH_ID.to_owned()),
                    ("return_code", "SUCCESS".to_owned()),
                    ("result_code", "SUCCESS".to_owned()),
                    ("out_trade_no", out_trade_no),
                    ("transaction_id", transaction_id),
                    ("total_fee", fee.to_string()),
                ] {
                    fields.insert(k.into(), v);
                }
                fields.remove("sign");
                fields.remove("sign_type");
                fields
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_pay(body in prop::collection::vec(any::<u8>(), 0..1024)) {
            if let Ok(fields) = xml::decode(&body) {
                prop_assert!(check(&fields, &config()).is_err());
            }
        }

        #[test]
        fn arbitrary_xml_fields_with_a_guessed_sign_never_pay(
            mut fields in payment_fields(),
            guess in "[0-9A-F]{32}",
        ) {
            fields.insert("sign".into(), guess);
            let body = xml::encode_map(&fields);
            let decoded = xml::decode(body.as_bytes()).unwrap();
            prop_assert!(check(&decoded, &config()).is_err());
        }

        #[test]
        fn a_signed_notify_pays_and_any_change_breaks_it(
            mut fields in payment_fields(),
            victim in any::<prop::sample::Index>(),
            hmac in any::<bool>(),
        ) {
            let sign_type = if hmac { SignType::HmacSha256 } else { SignType::Md5 };
            if hmac {
                fields.insert("sign_type".into(), "HMAC-SHA256".into());
            }
            let signature = sign::sign(&fields, SANDBOX_API_KEY, sign_type);
            fields.insert("sign".into(), signature);
            let decoded = xml::decode(xml::encode_map(&fields).as_bytes()).unwrap();
            let payment = check(&decoded, &config());
            prop_assert!(payment.is_ok(), "{:?}", payment);
            prop_assert_eq!(&payment.unwrap().transaction_id, &fields["transaction_id"]);

            let names: Vec<String> = fields.keys().filter(|k| *k != "sign").cloned().collect();
            let name = victim.get(&names).clone();
            let mut tampered = fields.clone();
            tampered.get_mut(&name).unwrap().push('x');
            prop_assert!(check(&tampered, &config()).is_err(), "changing {} went unnoticed", name);
        }
    }
}
