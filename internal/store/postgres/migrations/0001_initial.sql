-- Initial schema. user_name_key and email_key hold the Go-side case fold
-- (strings.ToLower) of user_name and email. Folding in Go rather than with
-- lower() keeps the rule independent of the database's LC_CTYPE and identical
-- to the SQLite backend's.

CREATE TABLE organizations (
    uid        text        NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE users (
    uid                 text        NOT NULL PRIMARY KEY,
    id                  text        NOT NULL UNIQUE,
    org_uid             text        NOT NULL REFERENCES organizations (uid),
    user_name           text        NOT NULL,
    user_name_key       text        NOT NULL UNIQUE,
    email               text        NOT NULL,
    email_key           text        NOT NULL UNIQUE,
    first_name          text        NOT NULL,
    last_name           text        NOT NULL,
    role                text        NOT NULL,
    password_hash       text        NOT NULL,
    active              boolean     NOT NULL,
    last_invalidate_all timestamptz, -- NULL: never
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE INDEX users_org_uid ON users (org_uid);
CREATE INDEX users_created_at ON users (created_at, uid COLLATE "C");

CREATE TABLE api_tokens (
    hash       text        NOT NULL PRIMARY KEY,
    user_uid   text        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX api_tokens_user_uid ON api_tokens (user_uid);
CREATE INDEX api_tokens_expires_at ON api_tokens (expires_at);

CREATE TABLE web_sessions (
    hash       text        NOT NULL PRIMARY KEY,
    user_uid   text        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    csrf_token text        NOT NULL,
    auth_time  timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX web_sessions_user_uid ON web_sessions (user_uid);

-- At most one row (id = 1): whoever inserts it first is the one bootstrap.
-- The foreign key is deferred because the row is claimed before the
-- organization it names is inserted in the same transaction. admin_uid is a
-- plain record, not a foreign key, so it never blocks removing that user.
CREATE TABLE bootstrap (
    id         integer     NOT NULL PRIMARY KEY CHECK (id = 1),
    org_uid    text        NOT NULL REFERENCES organizations (uid) DEFERRABLE INITIALLY DEFERRED,
    admin_uid  text        NOT NULL,
    created_at timestamptz NOT NULL
);
