-- Values unique across the store (a bank reference booked once in the whole fund), each held
-- by the stream whose append took it. Written inside the append's write transaction, so two
-- appends racing for one value are decided in commit order; the key is the last safeguard.
CREATE TABLE event_claims (
    claim    TEXT PRIMARY KEY,
    stream   TEXT NOT NULL,
    position INTEGER NOT NULL CHECK (position > 0)
);
