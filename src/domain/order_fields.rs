use super::ChannelId;
use serde_json::Value;

/// Control characters, and the invisible format characters that can disguise text shown to a
/// shopper (bidirectional overrides, zero-width characters, BOM).
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn as_str<'a>(field: &str, value: &'a Value, what: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{field} must be a string: {what}"))
}

/// The merchant's own order id: 1–32 characters of `[A-Za-z0-9_-]`, unique per merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantOrderId(String);

impl MerchantOrderId {
    const RULE: &'static str = "1–32 characters of A-Z, a-z, 0-9, '_' or '-'";

    pub fn parse_str(field: &str, s: &str) -> Result<MerchantOrderId, String> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(MerchantOrderId(s.to_owned()))
        } else {
            Err(format!("{field} must be {}", Self::RULE))
        }
    }

    pub fn parse(field: &str, value: &Value) -> Result<MerchantOrderId, String> {
        Self::parse_str(field, as_str(field, value, Self::RULE)?)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The shopper's id at the merchant: 1–64 printable characters (no control characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantUserId(String);

impl MerchantUserId {
    const RULE: &'static str = "1–64 printable characters";

    pub fn parse(field: &str, value: &Value) -> Result<MerchantUserId, String> {
        let s = as_str(field, value, Self::RULE)?;
        let count = s.chars().count();
        if (1..=64).contains(&count) && !s.chars().any(is_hidden) {
            Ok(MerchantUserId(s.to_owned()))
        } else {
            Err(format!("{field} must be {}", Self::RULE))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the shopper sees in WeChat as the goods description (`body`): at most 127 bytes of
/// UTF-8, WeChat's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub const MAX_BYTES: usize = 127;
    const RULE: &'static str = "1–127 bytes of UTF-8 text without control characters";

    pub fn parse(field: &str, value: &Value) -> Result<Description, String> {
        let s = as_str(field, value, Self::RULE)?;
        if !s.is_empty() && s.len() <= Self::MAX_BYTES && !s.chars().any(is_hidden) {
            Ok(Description(s.to_owned()))
        } else {
            Err(format!("{field} must be {}", Self::RULE))
        }
    }

    pub fn default_for(order: &MerchantOrderId) -> Description {
        Description(format!("Order {}", order.as_str()))
    }

    /// Cuts `text` to the byte limit at a character boundary (for descriptions we compose).
    pub fn truncated(text: &str) -> Description {
        let mut end = text.len().min(Self::MAX_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Description(text[..end].to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Minutes from creation until the order can no longer be paid: 1–120, default 120.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpireMinutes(i32);

impl ExpireMinutes {
    pub const DEFAULT: ExpireMinutes = ExpireMinutes(120);

    pub fn parse(field: &str, value: &Value) -> Result<ExpireMinutes, String> {
        match value.as_i64() {
            Some(m @ 1..=120) if value.is_i64() || value.is_u64() => Ok(ExpireMinutes(m as i32)),
            _ => Err(format!("{field} must be an integer from 1 to 120")),
        }
    }

    pub fn value(self) -> i32 {
        self.0
    }

    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::minutes(self.0.into())
    }
}

/// Which door an order came in by. It decides what the order's return_url is told: the
/// foodie-dev course's `notifyMerchantOrderPaid` marks the order paid whatever the form says,
/// so an order made through the course's endpoint must hear of money received only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderOrigin {
    /// `POST /v1/orders`: the return_url reads `eventType` and `status`.
    Api,
    /// `POST /payment/createMerchantOrder`: the course's paid callback.
    Foodie,
}

impl OrderOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderOrigin::Api => "api",
            OrderOrigin::Foodie => "foodie",
        }
    }

    /// What is not `foodie` is `api`, the column's default.
    pub fn from_stored(s: &str) -> OrderOrigin {
        if s == OrderOrigin::Foodie.as_str() {
            OrderOrigin::Foodie
        } else {
            OrderOrigin::Api
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayMethod {
    Wechat,
    Alipay,
    /// Left to the shopper: either channel's pay endpoints take the order.
    Any,
}

impl PayMethod {
    /// `"wechat"` (or `1`), `"alipay"` (or `2`), or absent / `null`: either.
    pub fn parse(field: &str, value: Option<&Value>) -> Result<PayMethod, String> {
        match value {
            None | Some(Value::Null) => Ok(PayMethod::Any),
            Some(Value::String(s)) if s == "wechat" => Ok(PayMethod::Wechat),
            Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(PayMethod::Wechat),
            Some(Value::String(s)) if s == "alipay" => Ok(PayMethod::Alipay),
            Some(Value::Number(n)) if n.as_i64() == Some(2) => Ok(PayMethod::Alipay),
            _ => Err(format!(
                "{field} must be \"wechat\" (or 1), \"alipay\" (or 2), or null"
            )),
        }
    }

    /// The stored value (`orders.pay_method`).
    pub fn as_str(self) -> &'static str {
        match self {
            PayMethod::Wechat => "wechat",
            PayMethod::Alipay => "alipay",
            PayMethod::Any => "any",
        }
    }

    /// What the API shows: the channel's name, or `null` for the shopper's choice.
    pub fn shown(self) -> Option<&'static str> {
        (self != PayMethod::Any).then(|| self.as_str())
    }

    pub fn from_stored(s: &str) -> Option<PayMethod> {
        match s {
            "wechat" => Some(PayMethod::Wechat),
            "alipay" => Some(PayMethod::Alipay),
            "any" => Some(PayMethod::Any),
            _ => None,
        }
    }

    pub fn allows(self, channel: ChannelId) -> bool {
        match self {
            PayMethod::Wechat => channel == ChannelId::Wechat,
            PayMethod::Alipay => channel == ChannelId::Alipay,
            PayMethod::Any => true,
        }
    }

    /// The foodie-payment course's numeric code (its orders always name a channel).
    pub fn legacy_code(self) -> i32 {
        match self {
            PayMethod::Alipay => 2,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merchant_order_id_rule() {
        assert!(MerchantOrderId::parse("m", &json!("210216HW7D4NGT2W")).is_ok());
        assert!(MerchantOrderId::parse("m", &json!("a_b-C9")).is_ok());
        assert!(MerchantOrderId::parse("m", &json!("x".repeat(32))).is_ok());
        for bad in [
            json!(""),
            json!("x".repeat(33)),
            json!("a b"),
            json!("订单"),
            json!(7),
        ] {
            let err = MerchantOrderId::parse("merchant_order_id", &bad).unwrap_err();
            assert!(err.starts_with("merchant_order_id must be"), "{err}");
        }
    }

    #[test]
    fn merchant_user_id_counts_characters_and_refuses_control() {
        assert!(MerchantUserId::parse("u", &json!("用户".repeat(32))).is_ok());
        assert!(MerchantUserId::parse("u", &json!("x".repeat(65))).is_err());
        assert!(MerchantUserId::parse("u", &json!("a\nb")).is_err());
        assert!(MerchantUserId::parse("u", &json!("abc\u{202E}fed")).is_err());
        assert!(Description::parse("d", &json!("pay\u{200B}me")).is_err());
        assert!(MerchantUserId::parse("u", &json!("")).is_err());
    }

    #[test]
    fn description_is_limited_in_bytes() {
        // 42 × 3 bytes = 126 bytes: fits; one more character does not.
        assert!(Description::parse("d", &json!("吃".repeat(42))).is_ok());
        assert!(Description::parse("d", &json!("吃".repeat(43))).is_err());
        assert!(Description::parse("d", &json!("")).is_err());
        assert_eq!(Description::truncated(&"吃".repeat(50)).as_str().len(), 126);
    }

    #[test]
    fn expire_minutes_range() {
        assert_eq!(ExpireMinutes::parse("e", &json!(1)).unwrap().value(), 1);
        assert_eq!(ExpireMinutes::parse("e", &json!(120)).unwrap().value(), 120);
        for bad in [json!(0), json!(121), json!(1.5), json!("5")] {
            assert!(ExpireMinutes::parse("e", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pay_method_accepts_name_or_code_or_nothing() {
        let parse = |v| PayMethod::parse("p", Some(&v));
        assert_eq!(parse(json!("wechat")), Ok(PayMethod::Wechat));
        assert_eq!(parse(json!(1)), Ok(PayMethod::Wechat));
        assert_eq!(parse(json!("alipay")), Ok(PayMethod::Alipay));
        assert_eq!(parse(json!(2)), Ok(PayMethod::Alipay));
        assert_eq!(parse(json!(null)), Ok(PayMethod::Any));
        assert_eq!(PayMethod::parse("p", None), Ok(PayMethod::Any));
        for bad in [json!("cash"), json!(3), json!("WECHAT"), json!(true)] {
            assert_eq!(
                PayMethod::parse("pay_method", Some(&bad)).unwrap_err(),
                "pay_method must be \"wechat\" (or 1), \"alipay\" (or 2), or null"
            );
        }
        assert!(PayMethod::Any.allows(ChannelId::Alipay));
        assert!(!PayMethod::Wechat.allows(ChannelId::Alipay));
        assert_eq!(
            PayMethod::from_stored("any").and_then(PayMethod::shown),
            None
        );
    }
}
