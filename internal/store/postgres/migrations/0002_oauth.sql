-- OAuth: clients, authorization codes, access and refresh tokens, consents,
-- signing keys. A zero time is NULL. String lists are text[] ('{}' when
-- empty). A client_credentials access token has no user: user_uid NULL.

CREATE TABLE clients (
    id                text        NOT NULL PRIMARY KEY,
    org_uid           text        NOT NULL REFERENCES organizations (uid) ON DELETE CASCADE,
    name              text        NOT NULL,
    description       text        NOT NULL,
    secret_hash       text        NOT NULL, -- '' for public clients
    redirect_uris     text[]      NOT NULL,
    grant_types       text[]      NOT NULL,
    scopes            text[]      NOT NULL,
    audiences         text[]      NOT NULL,
    public            boolean     NOT NULL,
    admin_consent     boolean     NOT NULL,
    jwt_access_tokens boolean     NOT NULL,
    always_refresh    boolean     NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

CREATE INDEX clients_org_uid ON clients (org_uid, created_at, id COLLATE "C");
CREATE INDEX clients_created_at ON clients (created_at, id COLLATE "C");

CREATE TABLE auth_codes (
    hash                  text        NOT NULL PRIMARY KEY,
    client_id             text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_uid              text        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    redirect_uri          text        NOT NULL,
    scopes                text[]      NOT NULL,
    audiences             text[]      NOT NULL,
    nonce                 text        NOT NULL,
    code_challenge        text        NOT NULL,
    code_challenge_method text        NOT NULL,
    auth_time             timestamptz,
    grant_id              text        NOT NULL,
    created_at            timestamptz NOT NULL,
    expires_at            timestamptz NOT NULL,
    used_at               timestamptz -- NULL: not redeemed
);

CREATE INDEX auth_codes_client_id ON auth_codes (client_id);
CREATE INDEX auth_codes_user_uid ON auth_codes (user_uid);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE access_tokens (
    hash       text        NOT NULL PRIMARY KEY,
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_uid   text                 REFERENCES users (uid) ON DELETE CASCADE, -- NULL: client_credentials
    org_uid    text        NOT NULL,
    scopes     text[]      NOT NULL,
    audiences  text[]      NOT NULL,
    grant_id   text        NOT NULL,
    auth_time  timestamptz,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_user_uid ON access_tokens (user_uid);
CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    hash       text        NOT NULL PRIMARY KEY,
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_uid   text        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    org_uid    text        NOT NULL,
    scopes     text[]      NOT NULL,
    audiences  text[]      NOT NULL,
    grant_id   text        NOT NULL,
    auth_time  timestamptz,
    created_at timestamptz NOT NULL,
    expires_at timestamptz, -- NULL: never
    used_at    timestamptz  -- NULL: not rotated
);

CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_user_uid ON refresh_tokens (user_uid);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE consents (
    user_uid   text        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     text[]      NOT NULL,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (user_uid, client_id)
);

CREATE INDEX consents_client_id ON consents (client_id);

-- The partial unique index is the backstop of EnsureSigningKey and
-- RotateSigningKey (which also serialize per algorithm on an advisory
-- lock): at most one active (unretired) key per algorithm.
CREATE TABLE signing_keys (
    kid          text        NOT NULL PRIMARY KEY,
    alg          text        NOT NULL,
    sealed_key   bytea       NOT NULL,
    public_key   bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    retired_at   timestamptz, -- NULL: active
    published_to timestamptz  -- NULL: while active
);

CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE retired_at IS NULL;
CREATE INDEX signing_keys_created_at ON signing_keys (created_at DESC, kid COLLATE "C");
