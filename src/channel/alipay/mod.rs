//! Alipay Open Platform (RSA2, JSON gateway): signatures, yuan amounts and form bodies so far;
//! the client, the notify, the adapter and the sandbox come next.
//!
//! `sign` is the only module touching key material, `amount` keeps money out of floating
//! point, and `form` is the strict codec for notify and gateway bodies.

pub mod amount;
mod der;
pub mod form;
pub mod sign;

/// The RSA2 test vectors (`alipay_rsa2.json`: gopay, python-alipay-sdk), one unit test per
/// case, and the key-format tests.
#[cfg(test)]
mod sign_tests;
