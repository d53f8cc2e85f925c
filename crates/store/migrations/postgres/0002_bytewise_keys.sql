-- Request ids and consumer names are opaque keys: compare them bytewise. Under a locale
-- collation every index comparison is a strcoll call, which made recording request ids a
-- large share of an append's cost.
ALTER TABLE event_requests ALTER COLUMN request_id TYPE TEXT COLLATE "C";
ALTER TABLE consumer_checkpoints ALTER COLUMN consumer TYPE TEXT COLLATE "C";
