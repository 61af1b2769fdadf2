-- Revocation of self-contained access tokens, which have no row to
-- delete: a cutoff revokes every token that carries key (a token id, a
-- grant, an app's authorization by a user, a user or an app, each under
-- its own prefix) and whose grant began at or before not_before. The row
-- may go once expires_at has passed, when every token it revokes has
-- expired; retention finds it through its index. Times are INTEGER
-- microseconds since the Unix epoch, UTC.
CREATE TABLE access_token_cutoffs (
    key        TEXT    NOT NULL PRIMARY KEY,
    not_before INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX access_token_cutoffs_expires_at ON access_token_cutoffs (expires_at);
