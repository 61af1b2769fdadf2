-- Platform API tokens (SPEC §3.5) and the JWTs exchanged from them (RFC
-- 8693). A zero time is NULL. Only hashes of tokens and jtis are stored.
-- Deleting a platform token deletes its exchanged records (ON DELETE
-- CASCADE), which is what makes revocation reach the JWTs at introspection
-- (SECURITY.md T42).

CREATE TABLE platform_tokens (
    id           text        NOT NULL PRIMARY KEY,
    user_uid     text        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    name         text        NOT NULL,
    hash         text        NOT NULL UNIQUE,
    last_eight   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz, -- NULL: never used
    expires_at   timestamptz  -- NULL: never expires
);

CREATE INDEX platform_tokens_user_uid ON platform_tokens (user_uid, created_at, id COLLATE "C");
CREATE INDEX platform_tokens_expires_at ON platform_tokens (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE platform_exchanges (
    jti_hash   text        NOT NULL PRIMARY KEY,
    token_id   text        NOT NULL REFERENCES platform_tokens (id) ON DELETE CASCADE,
    user_uid   text        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    org_uid    text        NOT NULL,
    scopes     text[],              -- NULL: the user's whole access
    audiences  text[]      NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX platform_exchanges_token_id ON platform_exchanges (token_id);
CREATE INDEX platform_exchanges_user_uid ON platform_exchanges (user_uid);
CREATE INDEX platform_exchanges_expires_at ON platform_exchanges (expires_at);
