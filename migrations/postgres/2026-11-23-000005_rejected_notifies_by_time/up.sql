-- Anyone can POST to the notify URL, and every refused notify is kept: the reconcile worker
-- deletes those older than the retention period, by this index.
CREATE INDEX rejected_notifies_received_at ON rejected_notifies (received_at);
