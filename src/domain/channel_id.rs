//! The channels by name, as the API, the webhooks and the database say them.

/// A channel the money can come through. Its name is what the API, the webhooks and the
/// database say (`"wechat"`, `"alipay"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelId {
    Wechat,
    Alipay,
}

impl ChannelId {
    pub const ALL: [ChannelId; 2] = [ChannelId::Wechat, ChannelId::Alipay];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelId::Wechat => "wechat",
            ChannelId::Alipay => "alipay",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelId> {
        match s {
            "wechat" => Some(ChannelId::Wechat),
            "alipay" => Some(ChannelId::Alipay),
            _ => None,
        }
    }

    /// How a shopper knows it: for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            ChannelId::Wechat => "WeChat Pay",
            ChannelId::Alipay => "Alipay",
        }
    }
}
