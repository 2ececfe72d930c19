/// Which channels a process talks to (`PAYMENT_MODE`): the built-in simulations, or the real
/// ones. One process is one mode; orders and webhooks say which (`livemode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentMode {
    Sandbox,
    Live,
}

impl PaymentMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMode::Sandbox => "sandbox",
            PaymentMode::Live => "live",
        }
    }

    pub fn is_live(self) -> bool {
        self == PaymentMode::Live
    }
}
