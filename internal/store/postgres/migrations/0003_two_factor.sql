-- Two-factor authentication: TOTP enrolments, recovery codes and pending
-- second-factor sign-ins. A zero time is NULL.

-- One row per user with a TOTP enrolment. The secret is sealed (AES-GCM,
-- bound to the user uid) by the application. last_step is the last TOTP
-- time step accepted: the replay guard lives here so that it holds across
-- every tolk instance.
CREATE TABLE two_factor (
    user_uid      text        NOT NULL PRIMARY KEY REFERENCES users (uid) ON DELETE CASCADE,
    sealed_secret bytea       NOT NULL,
    enabled_at    timestamptz, -- NULL: enrolment pending confirmation
    last_step     bigint      NOT NULL,
    created_at    timestamptz NOT NULL
);

-- Single-use recovery codes, stored only as a hex SHA-256.
CREATE TABLE recovery_codes (
    user_uid   text        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    hash       text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_uid, hash)
);

-- Web sign-ins whose password was right, waiting for the second factor.
CREATE TABLE pending_logins (
    hash       text        NOT NULL PRIMARY KEY,
    user_uid   text        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX pending_logins_user_uid ON pending_logins (user_uid);
CREATE INDEX pending_logins_expires_at ON pending_logins (expires_at);
