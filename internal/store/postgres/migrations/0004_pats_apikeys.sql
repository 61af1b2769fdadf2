-- Strings personal access tokens and ProZ API keys. Only hashes of the
-- secrets are stored. A zero time is NULL. Scopes are text[] ('{}' when
-- empty).

CREATE TABLE personal_access_tokens (
    id           text        NOT NULL PRIMARY KEY,
    user_uid     text        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    note         text        NOT NULL,
    scopes       text[]      NOT NULL,
    hash         text        NOT NULL UNIQUE,
    last_eight   text        NOT NULL,
    expires_at   timestamptz, -- NULL: never
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    last_used_at timestamptz  -- NULL: never used
);

CREATE INDEX personal_access_tokens_user ON personal_access_tokens (user_uid, created_at, id COLLATE "C");

CREATE TABLE api_keys (
    id         text        NOT NULL PRIMARY KEY,
    user_uid   text        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    note       text        NOT NULL,
    hash       text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz  -- NULL: valid
);

CREATE INDEX api_keys_user ON api_keys (user_uid);
CREATE INDEX api_keys_created_at ON api_keys (created_at, id COLLATE "C");
