-- The event store. Positions are assigned by the appending transaction while it holds the
-- database's write lock (BEGIN IMMEDIATE), so they are dense and follow commit order.
-- `position` is the rowid; no AUTOINCREMENT, the writer sets it.
CREATE TABLE events (
    position    INTEGER PRIMARY KEY CHECK (position > 0),
    event_id    BLOB NOT NULL UNIQUE CHECK (length(event_id) = 16),
    stream      TEXT NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 0),
    event_type  TEXT NOT NULL,
    payload     BLOB NOT NULL,
    metadata    BLOB NOT NULL,
    recorded_at INTEGER NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL,
    UNIQUE (stream, version)
);

CREATE TABLE event_streams (
    stream  TEXT PRIMARY KEY,
    version INTEGER NOT NULL CHECK (version >= 0)
) WITHOUT ROWID;

CREATE TABLE event_requests (
    request_id     TEXT PRIMARY KEY,
    fingerprint    BLOB NOT NULL,
    stream         TEXT NOT NULL,
    first_version  INTEGER NOT NULL,
    last_version   INTEGER NOT NULL,
    first_position INTEGER NOT NULL,
    last_position  INTEGER NOT NULL,
    recorded_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE consumer_checkpoints (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL CHECK (position >= 0)
) WITHOUT ROWID;
