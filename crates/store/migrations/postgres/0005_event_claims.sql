-- Values unique across the store (a bank reference booked once in the whole fund), each held
-- by the stream whose append took it. Written under the writer's lock like the events, so two
-- appends racing for one value are decided in commit order; the key is the last safeguard.
CREATE TABLE event_claims (
    claim    TEXT COLLATE "C" PRIMARY KEY,
    stream   TEXT COLLATE "C" NOT NULL,
    position BIGINT NOT NULL CHECK (position > 0)
);
