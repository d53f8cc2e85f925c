-- Events a consumer moved past without their effect — an undecodable payload, a failure that
-- outlasted its retries, a command a rule refused — kept until someone looks at them: the
-- trust fund's "needs attention" queue. One row per consumer and position; parking the same
-- event again counts another attempt on it.
CREATE TABLE consumer_attention (
    id         INTEGER PRIMARY KEY,
    consumer   TEXT NOT NULL,
    position   INTEGER NOT NULL CHECK (position > 0),
    event_id   BLOB NOT NULL CHECK (length(event_id) = 16),
    stream     TEXT NOT NULL,
    event_type TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('undecodable', 'failed', 'refused')),
    reason     TEXT NOT NULL,
    cause      TEXT NOT NULL,
    attempts   INTEGER NOT NULL CHECK (attempts >= 0),
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('open', 'redrive_requested', 'resolved')),
    UNIQUE (consumer, position)
);

-- Consumers look for their re-drive requests between events.
CREATE INDEX consumer_attention_state_consumer ON consumer_attention (state, consumer);
