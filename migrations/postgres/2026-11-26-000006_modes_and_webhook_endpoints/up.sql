-- Whether the order was made by a live installation (real channels) or a sandbox. It is kept
-- with the order, not read from the process, so an order never changes side; every webhook
-- carries it, signed. Orders made before modes existed are marked sandbox, the safe side.
ALTER TABLE orders ADD COLUMN livemode BOOLEAN NOT NULL DEFAULT FALSE;

-- A merchant's webhook endpoint: hears every event it subscribed to (a comma-separated list of
-- event names, or '*'). Deleted endpoints are kept (their events refer to them), marked.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);

CREATE INDEX webhook_endpoints_merchant_id ON webhook_endpoints (merchant_id);

-- NULL: the event goes to the order's return_url, which hears only of the payment; else the
-- endpoint it goes to.
ALTER TABLE webhook_events ADD COLUMN endpoint_id TEXT REFERENCES webhook_endpoints (id);

-- The return_url hears of an order's payment at most once, whatever door the money came in by.
CREATE UNIQUE INDEX webhook_events_one_paid_per_order ON webhook_events (order_id)
    WHERE endpoint_id IS NULL AND event_type = 'order.paid';
