-- The order's timeline (GET /v1/orders/{id}/events; its creation is the order row): each channel call and its
-- outcome, each notify taken or refused (when it named the order and was signed), each state
-- change. Webhook attempts are read from webhook_attempts. `detail` is a JSON object; it never
-- holds a key, a secret or a signature.
CREATE TABLE order_events (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE INDEX order_events_order_at ON order_events (order_id, at);
