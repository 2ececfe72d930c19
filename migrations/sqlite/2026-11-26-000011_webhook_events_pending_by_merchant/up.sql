-- A claim passes over the merchants whose sends are all under way. Through the due index it had
-- to read past every due event of those merchants to find another's: 67 ms a claim with one
-- merchant 75,000 events behind, and deliveries fell to a few hundred a second. Per merchant,
-- a claim reads only the first due events of each merchant it takes from.
CREATE INDEX webhook_events_pending_by_merchant ON webhook_events (merchant_id, next_attempt_at)
    WHERE status = 'PENDING';
