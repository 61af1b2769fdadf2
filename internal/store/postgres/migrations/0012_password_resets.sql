-- Password-reset and invitation links (SPEC §8): only the SHA-256 of the
-- token, the user it is for, and its expiry, found by retention through
-- its index.
CREATE TABLE password_resets (
    hash       text        NOT NULL PRIMARY KEY,
    user_uid   text        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    purpose    text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX password_resets_user_uid ON password_resets (user_uid);
CREATE INDEX password_resets_expires_at ON password_resets (expires_at);
