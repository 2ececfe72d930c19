use crate::db::orders::Order;
use crate::db::webhook_endpoints::WebhookEndpoint;
use crate::db::webhook_events::{NewWebhookEvent, PENDING};
use crate::domain::{random_string, time, OrderStatus};
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

    /// Every event name, as endpoints subscribe to them.
    pub const ALL: [EventType; 4] = [
        EventType::OrderPaid,
        EventType::OrderClosed,
        EventType::PaidAfterClose,
        EventType::DuplicatePayment,
    ];

    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// Money received for an order that had none: the one thing its return_url hears of.
    pub fn is_first_payment(self) -> bool {
        matches!(self, EventType::OrderPaid | EventType::PaidAfterClose)
    }
}

/// Where an event goes.
pub enum Target<'a> {
    /// The order's return_url: the paid notification (`order.paid`, status `PAID`) and nothing
    /// else. A merchant that treats any signed form there as "paid" never ships unpaid goods.
    ReturnUrl,
    Endpoint(&'a WebhookEndpoint),
}

/// The outbox row for `event` on `order` (as it is after the change) to `target`, due at
/// once. The payment fields are this event's own: a duplicate payment reports its own
/// transaction.
pub fn new_event(
    order: &Order,
    event: EventType,
    payment: Option<(&str, NaiveDateTime)>,
    now: NaiveDateTime,
    target: Target,
) -> NewWebhookEvent {
    // The return_url is told of the payment as `order.paid` of a `PAID` order, also when the
    // money came after a close: that is the paid notification it expects.
    let (event_name, status, url, endpoint_id) = match target {
        Target::ReturnUrl => (
            EventType::OrderPaid.as_str(),
            OrderStatus::Paid.as_str(),
            order.return_url.clone(),
            None,
        ),
        Target::Endpoint(endpoint) => (
            event.as_str(),
            order.status.as_str(),
            endpoint.url.clone(),
            Some(endpoint.id.clone()),
        ),
    };
    let (transaction_id, paid_at) = match payment {
        Some((id, at)) => (id.to_owned(), time::rfc3339(at)),
        None => (String::new(), String::new()),
    };
    let payload = json!({
        "eventType": event_name,
        "merchantOrderId": order.merchant_order_id,
        "merchantUserId": order.merchant_user_id,
        "orderId": order.id,
        "amount": order.amount.to_string(),
        // The channel the money came through; before any money, the channel the order was
        // made for (empty when the shopper chooses, and then left out of the form).
        "payMethod": order.channel.as_deref().unwrap_or(match order.pay_method.as_str() {
            "any" => "",
            named => named,
        }),
        "status": status,
        "livemode": order.livemode.to_string(),
        "transactionId": transaction_id,
        "paidAt": paid_at,
    });
    NewWebhookEvent {
        id: format!("wh_{}", random_string(24)),
        order_id: order.id.clone(),
        merchant_id: order.merchant_id.clone(),
        event_type: event_name.to_owned(),
        payload: payload.to_string(),
        url,
        status: PENDING.to_owned(),
        next_attempt_at: Some(now),
        created_at: now,
        endpoint_id,
    }
}
