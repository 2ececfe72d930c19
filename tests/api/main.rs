//! The one integration-test binary: the real service over HTTP, per flow a module.

mod abuse;
mod alipay;
mod cashier;
mod checkout;
mod cli;
mod endpoints;
mod fairness;
mod faults;
mod health;
mod helpers;
mod legacy;
mod lifecycle;
mod modes;
mod native;
mod notify;
mod operations;
mod orders;
mod orders_validation;
mod receiver;
mod sandbox;
mod store;
mod targets;
mod timeline;
mod trade_types;
mod webhooks;
mod wechat_raw;
