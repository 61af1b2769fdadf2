-- A client_credentials token has no user and no family: it is revoked by
-- its hash, never by user or by grant, so it needs no entry in the user
-- and grant indexes (the same change as SQLite's 0010). The queries by
-- user or grant carry user_uid IS NOT NULL, or imply it.
DROP INDEX access_tokens_user_uid;
DROP INDEX access_tokens_grant_id;
CREATE INDEX access_tokens_user_uid ON access_tokens (user_uid) WHERE user_uid IS NOT NULL;
CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id) WHERE user_uid IS NOT NULL;
