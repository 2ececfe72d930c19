//! Types that validate on parse: once a value has one of these types it is known good.
//! Every parse error is a message that names the offending field, ready for a 400.

mod channel_id;
mod fen;
mod ids;
mod merchant_profile;
mod order_fields;
mod order_status;
mod payment_mode;
mod return_url;
pub mod time;

pub use channel_id::ChannelId;
pub use fen::Fen;
pub use ids::{
    hex_digest, random_string, ApiKey, CheckoutToken, MerchantId, NotifySecret, OrderId,
};
pub use merchant_profile::MerchantProfile;
pub use order_fields::{
    Description, ExpireMinutes, MerchantOrderId, MerchantUserId, OrderOrigin, PayMethod,
};
pub use order_status::OrderStatus;
pub use payment_mode::PaymentMode;
pub use return_url::{ReturnUrl, ReturnUrlPrefix};
