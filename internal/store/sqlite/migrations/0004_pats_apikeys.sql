-- Strings personal access tokens and ProZ API keys. Only hashes of the
-- secrets are stored. Times are INTEGER microseconds since the Unix epoch,
-- UTC; a zero time is NULL. Scopes are a JSON array ('[]' when empty).

CREATE TABLE personal_access_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_uid     TEXT    NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    note         TEXT    NOT NULL,
    scopes       TEXT    NOT NULL, -- JSON array
    hash         TEXT    NOT NULL UNIQUE,
    last_eight   TEXT    NOT NULL,
    expires_at   INTEGER, -- NULL: never
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_used_at INTEGER  -- NULL: never used
) STRICT;

CREATE INDEX personal_access_tokens_user ON personal_access_tokens (user_uid, created_at, id);

CREATE TABLE api_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_uid   TEXT    NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    note       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER  -- NULL: valid
) STRICT;

CREATE INDEX api_keys_user ON api_keys (user_uid);
CREATE INDEX api_keys_created_at ON api_keys (created_at, id);
