DROP INDEX webhook_events_one_paid_per_order;
ALTER TABLE webhook_events DROP COLUMN endpoint_id;
DROP TABLE webhook_endpoints;
ALTER TABLE orders DROP COLUMN livemode;
