use std::fmt;

/// Where an order is in its life. Transitions are decided here and applied in the database
/// with a conditional update on the current status, so races are settled by the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    WaitPay,
    Paid,
    Closed,
    /// A payment arrived for an order already closed: the money is real and the merchant
    /// must refund or honour it.
    PaidAfterClose,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::WaitPay => "WAIT_PAY",
            OrderStatus::Paid => "PAID",
            OrderStatus::Closed => "CLOSED",
            OrderStatus::PaidAfterClose => "PAID_AFTER_CLOSE",
        }
    }

    pub fn from_stored(s: &str) -> Option<OrderStatus> {
        match s {
            "WAIT_PAY" => Some(OrderStatus::WaitPay),
            "PAID" => Some(OrderStatus::Paid),
            "CLOSED" => Some(OrderStatus::Closed),
            "PAID_AFTER_CLOSE" => Some(OrderStatus::PaidAfterClose),
            _ => None,
        }
    }

    /// The foodie-payment course's `payStatus`: 10 waiting, 20 paid, 30 closed.
    pub fn legacy_code(self) -> i32 {
        match self {
            OrderStatus::WaitPay => 10,
            OrderStatus::Paid | OrderStatus::PaidAfterClose => 20,
            OrderStatus::Closed => 30,
        }
    }

    pub fn can_become(self, next: OrderStatus) -> bool {
        matches!(
            (self, next),
            (OrderStatus::WaitPay, OrderStatus::Paid)
                | (OrderStatus::WaitPay, OrderStatus::Closed)
                | (OrderStatus::Closed, OrderStatus::PaidAfterClose)
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn round_trips_through_storage() {
        for s in [WaitPay, Paid, Closed, PaidAfterClose] {
            assert_eq!(OrderStatus::from_stored(s.as_str()), Some(s));
        }
        assert_eq!(OrderStatus::from_stored("paid"), None);
    }

    #[test]
    fn only_waiting_orders_move() {
        assert!(WaitPay.can_become(Paid));
        assert!(WaitPay.can_become(Closed));
        assert!(!Paid.can_become(Closed));
        assert!(!Closed.can_become(WaitPay));
        assert!(!Paid.can_become(Paid));
        assert!(Closed.can_become(PaidAfterClose));
        assert!(!Paid.can_become(PaidAfterClose));
    }
}
