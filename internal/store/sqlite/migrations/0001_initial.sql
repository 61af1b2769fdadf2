-- Initial schema. Times are INTEGER microseconds since the Unix epoch, UTC.
-- user_name_key and email_key hold the Go-side case fold (strings.ToLower) of
-- user_name and email: SQLite's lower() folds ASCII only, so uniqueness and
-- lookups use these columns to behave exactly like the PostgreSQL backend.

CREATE TABLE organizations (
    uid        TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    uid                 TEXT    NOT NULL PRIMARY KEY,
    id                  TEXT    NOT NULL UNIQUE,
    org_uid             TEXT    NOT NULL REFERENCES organizations (uid),
    user_name           TEXT    NOT NULL,
    user_name_key       TEXT    NOT NULL UNIQUE,
    email               TEXT    NOT NULL,
    email_key           TEXT    NOT NULL UNIQUE,
    first_name          TEXT    NOT NULL,
    last_name           TEXT    NOT NULL,
    role                TEXT    NOT NULL,
    password_hash       TEXT    NOT NULL,
    active              INTEGER NOT NULL CHECK (active IN (0, 1)),
    last_invalidate_all INTEGER, -- NULL: never
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;

CREATE INDEX users_org_uid ON users (org_uid);
CREATE INDEX users_created_at ON users (created_at, uid);

CREATE TABLE api_tokens (
    hash       TEXT    NOT NULL PRIMARY KEY,
    user_uid   TEXT    NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX api_tokens_user_uid ON api_tokens (user_uid);
CREATE INDEX api_tokens_expires_at ON api_tokens (expires_at);

CREATE TABLE web_sessions (
    hash       TEXT    NOT NULL PRIMARY KEY,
    user_uid   TEXT    NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    csrf_token TEXT    NOT NULL,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX web_sessions_user_uid ON web_sessions (user_uid);

-- At most one row (id = 1): whoever inserts it first is the one bootstrap.
-- The foreign key is deferred because the row is claimed before the
-- organization it names is inserted in the same transaction. admin_uid is a
-- plain record, not a foreign key, so it never blocks removing that user.
CREATE TABLE bootstrap (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    org_uid    TEXT    NOT NULL REFERENCES organizations (uid) DEFERRABLE INITIALLY DEFERRED,
    admin_uid  TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
