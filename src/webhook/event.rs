use crate::db::orders::Order;
use crate::db::webhook_events::{NewWebhookEvent, PENDING};
use crate::domain::{random_string, time, OrderOrigin};
use chrono::NaiveDateTime;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// WAIT_PAY → PAID.
    OrderPaid,
    /// WAIT_PAY → CLOSED.
    OrderClosed,
    /// A payment for a CLOSED order: the order is PAID_AFTER_CLOSE.
    PaidAfterClose,
    /// A second successful transaction for an order already paid.
    DuplicatePayment,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderPaid => "order.paid",
            EventType::OrderClosed => "order.closed",
            EventType::PaidAfterClose => "order.paid_after_close",
            EventType::DuplicatePayment => "order.duplicate_payment",
        }
    }

    /// Whether the return_url of an order that came in by `origin` is told of this event.
    /// The course's callback takes every call for "paid": it hears of money received (a
    /// payment after close included, which it then honours), never of a close or of a second
    /// payment, which would mark an unpaid order paid or set a shipped one back.
    pub fn reaches(self, origin: OrderOrigin) -> bool {
        match origin {
            OrderOrigin::Api => true,
            OrderOrigin::Foodie => matches!(self, EventType::OrderPaid | EventType::PaidAfterClose),
        }
    }
}

/// The outbox row for `event` on `order` (as it is after the change), due at once. The
/// payment fields are this event's own: a duplicate payment reports its own transaction.
pub fn new_event(
    order: &Order,
    event: EventType,
    payment: Option<(&str, NaiveDateTime)>,
    now: NaiveDateTime,
) -> NewWebhookEvent {
    let (transaction_id, paid_at) = match payment {
        Some((id, at)) => (id.to_owned(), time::rfc3339(at)),
        None => (String::new(), String::new()),
    };
    let payload = json!({
        "eventType": event.as_str(),
        "merchantOrderId": order.merchant_order_id,
        "merchantUserId": order.merchant_user_id,
        "orderId": order.id,
        "amount": order.amount.to_string(),
        "payMethod": order.pay_method,
        "status": order.status,
        "transactionId": transaction_id,
        "paidAt": paid_at,
    });
    NewWebhookEvent {
        id: format!("wh_{}", random_string(24)),
        order_id: order.id.clone(),
        merchant_id: order.merchant_id.clone(),
        event_type: event.as_str().to_owned(),
        payload: payload.to_string(),
        url: order.return_url.clone(),
        status: PENDING.to_owned(),
        next_attempt_at: Some(now),
        created_at: now,
    }
}
