//! The payment channels behind one boundary: each channel folder owns its protocol and its
//! sandbox; the rest of the service speaks the neutral terms defined here.

pub mod wechat;
