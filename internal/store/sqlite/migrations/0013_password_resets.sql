-- Password-reset and invitation links (SPEC §8): only the SHA-256 of the
-- token, the user it is for, and its expiry (INTEGER microseconds since
-- the Unix epoch, UTC), found by retention through its index.
CREATE TABLE password_resets (
    hash       TEXT    NOT NULL PRIMARY KEY,
    user_uid   TEXT    NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX password_resets_user_uid ON password_resets (user_uid);
CREATE INDEX password_resets_expires_at ON password_resets (expires_at);
