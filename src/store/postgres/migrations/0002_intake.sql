-- whistlebox PostgreSQL schema, version 2: office intake (printed forms, and tips a clerk
-- entered counted by month and channel), as the sled store's format 5 added it. Never a
-- per-tip channel: the counts are all that is kept.

-- A batch of printed forms: its number, the day it was made, how many forms, and the day
-- it was withdrawn (NULL: it takes letters).
CREATE TABLE batches (
    number integer PRIMARY KEY,
    made_on integer NOT NULL,
    forms integer NOT NULL,
    voided_on integer
);

-- Each printed form's stub key (a keyed hash of its code) and its batch.
CREATE TABLE stubs (
    stub bytea PRIMARY KEY,
    batch integer NOT NULL REFERENCES batches (number)
);

-- Tips entered by a clerk, per month ("YYYY-MM") and channel code.
CREATE TABLE intake_counts (
    month text NOT NULL,
    channel smallint NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (month, channel)
);
