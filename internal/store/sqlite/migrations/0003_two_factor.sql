-- Two-factor authentication: TOTP enrolments, recovery codes and pending
-- second-factor sign-ins. Times are INTEGER microseconds since the Unix
-- epoch, UTC; a zero time is NULL.

-- One row per user with a TOTP enrolment. The secret is sealed (AES-GCM,
-- bound to the user uid) by the application. last_step is the last TOTP
-- time step accepted: the replay guard lives here so that it holds across
-- every process sharing the database.
CREATE TABLE two_factor (
    user_uid      TEXT    NOT NULL PRIMARY KEY REFERENCES users (uid) ON DELETE CASCADE,
    sealed_secret BLOB    NOT NULL,
    enabled_at    INTEGER, -- NULL: enrolment pending confirmation
    last_step     INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

-- Single-use recovery codes, stored only as a hex SHA-256.
CREATE TABLE recovery_codes (
    user_uid   TEXT    NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    hash       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_uid, hash)
) STRICT;

-- Web sign-ins whose password was right, waiting for the second factor.
CREATE TABLE pending_logins (
    hash       TEXT    NOT NULL PRIMARY KEY,
    user_uid   TEXT    NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX pending_logins_user_uid ON pending_logins (user_uid);
CREATE INDEX pending_logins_expires_at ON pending_logins (expires_at);
