-- Platform API tokens (SPEC §3.5) and the JWTs exchanged from them (RFC
-- 8693). Times are INTEGER microseconds since the Unix epoch, UTC; a zero
-- time is NULL. Only hashes of tokens and jtis are stored. Deleting a
-- platform token deletes its exchanged records (ON DELETE CASCADE), which is
-- what makes revocation reach the JWTs at introspection (SECURITY.md T42).

CREATE TABLE platform_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_uid     TEXT    NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    hash         TEXT    NOT NULL UNIQUE,
    last_eight   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER, -- NULL: never used
    expires_at   INTEGER  -- NULL: never expires
) STRICT;

CREATE INDEX platform_tokens_user_uid ON platform_tokens (user_uid, created_at, id);
CREATE INDEX platform_tokens_expires_at ON platform_tokens (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE platform_exchanges (
    jti_hash   TEXT    NOT NULL PRIMARY KEY,
    token_id   TEXT    NOT NULL REFERENCES platform_tokens (id) ON DELETE CASCADE,
    user_uid   TEXT    NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    org_uid    TEXT    NOT NULL,
    scopes     TEXT,             -- JSON array; NULL: the user's whole access
    audiences  TEXT    NOT NULL, -- JSON array
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX platform_exchanges_token_id ON platform_exchanges (token_id);
CREATE INDEX platform_exchanges_user_uid ON platform_exchanges (user_uid);
CREATE INDEX platform_exchanges_expires_at ON platform_exchanges (expires_at);
