DROP TABLE webhook_attempts;
DROP TABLE webhook_events;
DROP TABLE rejected_notifies;
DROP TABLE payments;
