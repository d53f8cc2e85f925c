-- The event store. Positions are assigned by the appending transaction while it holds the
-- store's advisory lock, so they are dense and follow commit order; no sequence is used
-- because a sequence hands out numbers in call order, not commit order.
CREATE TABLE events (
    position    BIGINT PRIMARY KEY CHECK (position > 0),
    event_id    UUID NOT NULL,
    stream      TEXT COLLATE "C" NOT NULL,
    version     BIGINT NOT NULL CHECK (version >= 0),
    event_type  TEXT NOT NULL,
    payload     BYTEA NOT NULL,
    metadata    BYTEA NOT NULL,
    recorded_at BIGINT NOT NULL,
    prev_hash   BYTEA NOT NULL,
    hash        BYTEA NOT NULL,
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream, version)
);

-- One row per stream with its last version: expected-version checks and category listings
-- are index lookups. The "C" collation makes `stream >= 'cat-' AND stream < 'cat.'` a prefix
-- range scan whatever the database's locale.
CREATE TABLE event_streams (
    stream  TEXT COLLATE "C" PRIMARY KEY,
    version BIGINT NOT NULL CHECK (version >= 0)
);

-- Applied request ids and what they produced, so a retried command gets the original answer.
CREATE TABLE event_requests (
    request_id     TEXT PRIMARY KEY,
    fingerprint    BYTEA NOT NULL,
    stream         TEXT COLLATE "C" NOT NULL,
    first_version  BIGINT NOT NULL,
    last_version   BIGINT NOT NULL,
    first_position BIGINT NOT NULL,
    last_position  BIGINT NOT NULL,
    recorded_at    BIGINT NOT NULL
);

-- Consumers' progress (projections, process managers, the relay): the last position handled.
CREATE TABLE consumer_checkpoints (
    consumer TEXT PRIMARY KEY,
    position BIGINT NOT NULL CHECK (position >= 0)
);
