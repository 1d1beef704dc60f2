-- whistlebox PostgreSQL schema, version 1 (src/store/postgres/mod.rs).
-- Applied once, inside one transaction, by whistlebox serve at startup; recorded in
-- whistlebox_schema. Plain SQL on purpose: no extensions, no stored procedures, no triggers,
-- no LISTEN/NOTIFY, no time-valued column and no DEFAULT now(), so that the store runs on
-- PostgreSQL-compatible distributed databases and holds nothing finer than the day.
-- Ids, lookups and sealed boxes are bytea; days are days since 1970-01-01 (integer).

-- One row: the installation's receipt salt, the pepper check, whether receipts made
-- before receipt version 2 are held, and the newest signed directory of offices used.
CREATE TABLE installation (
    id smallint PRIMARY KEY CHECK (id = 1),
    receipt_salt bytea NOT NULL,
    pepper_check bytea,
    legacy_receipts boolean NOT NULL,
    directory_sequence bigint,
    directory_digest bytea,
    directory bytea
);

-- The last signed bundle applied per office ('' is the county).
CREATE TABLE bundle_sequences (
    office text PRIMARY KEY,
    last_sequence bigint NOT NULL,
    last_digest bytea NOT NULL
);

-- What stays of a tip after every office acked it: no ciphertext.
CREATE TABLE tips (
    id bytea PRIMARY KEY,
    day integer NOT NULL,
    status smallint NOT NULL,
    followup_count integer NOT NULL,
    -- Who reads the tip (src/domain/addressing.rs, version 1); NULL: the county alone.
    addressing bytea
);

CREATE TABLE receipts (
    lookup bytea PRIMARY KEY,
    tip bytea NOT NULL REFERENCES tips (id)
);

CREATE TABLE history (
    tip bytea NOT NULL REFERENCES tips (id),
    n integer NOT NULL,
    day integer NOT NULL,
    status smallint NOT NULL,
    PRIMARY KEY (tip, n)
);

-- Replies sealed to the resident's reply key: kept after acks, as in the sled store.
CREATE TABLE replies (
    tip bytea NOT NULL REFERENCES tips (id),
    n integer NOT NULL,
    day integer NOT NULL,
    sealed bytea NOT NULL,
    PRIMARY KEY (tip, n)
);

-- Every table below holds only ciphertext that an ack (or a declined move, or expiry)
-- deletes; they are rewritten with VACUUM FULL after such a delete, so their size is what
-- waits for the inspectors and the rewrite stays short.
CREATE TABLE sealed_tips (
    tip bytea PRIMARY KEY REFERENCES tips (id),
    sealed bytea NOT NULL,
    sealed_reply_key bytea
);

CREATE TABLE followups (
    tip bytea NOT NULL REFERENCES tips (id),
    n integer NOT NULL,
    day integer NOT NULL,
    sealed bytea NOT NULL,
    PRIMARY KEY (tip, n)
);

-- The key stanza and carried copy of a move to a town, while they are kept.
CREATE TABLE moves (
    tip bytea NOT NULL REFERENCES tips (id),
    idx integer NOT NULL,
    stanza bytea NOT NULL,
    copy bytea NOT NULL,
    PRIMARY KEY (tip, idx)
);

-- Evidence files: an upload, then (owner set) a file of a tip (owner_n = 0) or of its
-- follow-up owner_n, at position owner_pos among that owner's files.
CREATE TABLE uploads (
    id bytea PRIMARY KEY,
    bytes bigint NOT NULL,
    day integer NOT NULL,
    received bytea NOT NULL,
    owner_tip bytea REFERENCES tips (id),
    owner_n integer,
    owner_pos integer,
    CHECK ((owner_tip IS NULL) = (owner_n IS NULL) AND (owner_tip IS NULL) = (owner_pos IS NULL))
);
CREATE INDEX uploads_by_owner ON uploads (owner_tip, owner_n);

CREATE TABLE upload_chunks (
    upload bytea NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    idx integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (upload, idx)
);
