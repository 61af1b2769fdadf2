-- OAuth: clients, authorization codes, access and refresh tokens, consents,
-- signing keys. Times are INTEGER microseconds since the Unix epoch, UTC; a
-- zero time is NULL. String lists are JSON arrays of strings ('[]' when
-- empty). A client_credentials access token has no user: user_uid NULL.

CREATE TABLE clients (
    id                TEXT    NOT NULL PRIMARY KEY,
    org_uid           TEXT    NOT NULL REFERENCES organizations (uid) ON DELETE CASCADE,
    name              TEXT    NOT NULL,
    description       TEXT    NOT NULL,
    secret_hash       TEXT    NOT NULL, -- '' for public clients
    redirect_uris     TEXT    NOT NULL, -- JSON array
    grant_types       TEXT    NOT NULL, -- JSON array
    scopes            TEXT    NOT NULL, -- JSON array
    audiences         TEXT    NOT NULL, -- JSON array
    public            INTEGER NOT NULL CHECK (public IN (0, 1)),
    admin_consent     INTEGER NOT NULL CHECK (admin_consent IN (0, 1)),
    jwt_access_tokens INTEGER NOT NULL CHECK (jwt_access_tokens IN (0, 1)),
    always_refresh    INTEGER NOT NULL CHECK (always_refresh IN (0, 1)),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE INDEX clients_org_uid ON clients (org_uid, created_at, id);
CREATE INDEX clients_created_at ON clients (created_at, id);

CREATE TABLE auth_codes (
    hash                  TEXT    NOT NULL PRIMARY KEY,
    client_id             TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_uid              TEXT    NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    redirect_uri          TEXT    NOT NULL,
    scopes                TEXT    NOT NULL, -- JSON array
    audiences             TEXT    NOT NULL, -- JSON array
    nonce                 TEXT    NOT NULL,
    code_challenge        TEXT    NOT NULL,
    code_challenge_method TEXT    NOT NULL,
    auth_time             INTEGER,
    grant_id              TEXT    NOT NULL,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    used_at               INTEGER -- NULL: not redeemed
) STRICT;

CREATE INDEX auth_codes_client_id ON auth_codes (client_id);
CREATE INDEX auth_codes_user_uid ON auth_codes (user_uid);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE access_tokens (
    hash       TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_uid   TEXT             REFERENCES users (uid) ON DELETE CASCADE, -- NULL: client_credentials
    org_uid    TEXT    NOT NULL,
    scopes     TEXT    NOT NULL, -- JSON array
    audiences  TEXT    NOT NULL, -- JSON array
    grant_id   TEXT    NOT NULL,
    auth_time  INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_user_uid ON access_tokens (user_uid);
CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    hash       TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_uid   TEXT    NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    org_uid    TEXT    NOT NULL,
    scopes     TEXT    NOT NULL, -- JSON array
    audiences  TEXT    NOT NULL, -- JSON array
    grant_id   TEXT    NOT NULL,
    auth_time  INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER, -- NULL: never
    used_at    INTEGER  -- NULL: not rotated
) STRICT;

CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_user_uid ON refresh_tokens (user_uid);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE consents (
    user_uid   TEXT    NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL, -- JSON array
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_uid, client_id)
) STRICT;

CREATE INDEX consents_client_id ON consents (client_id);

-- The partial unique index is the backstop of EnsureSigningKey and
-- RotateSigningKey: at most one active (unretired) key per algorithm.
CREATE TABLE signing_keys (
    kid          TEXT    NOT NULL PRIMARY KEY,
    alg          TEXT    NOT NULL,
    sealed_key   BLOB    NOT NULL,
    public_key   BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    retired_at   INTEGER, -- NULL: active
    published_to INTEGER  -- NULL: while active
) STRICT;

CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE retired_at IS NULL;
CREATE INDEX signing_keys_created_at ON signing_keys (created_at DESC, kid);
