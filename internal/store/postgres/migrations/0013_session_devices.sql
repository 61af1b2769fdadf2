-- Sessions page (SPEC §8): each web session keeps the device it was
-- signed in from (the User-Agent, clipped), the client address and when
-- it was last seen; each ApiToken when it was last used. Last seen and
-- last used are written at most once a minute per session or token (the
-- domain throttles); NULL: never.
ALTER TABLE web_sessions ADD COLUMN user_agent text NOT NULL DEFAULT '';
ALTER TABLE web_sessions ADD COLUMN address text NOT NULL DEFAULT '';
ALTER TABLE web_sessions ADD COLUMN last_seen_at timestamptz;
ALTER TABLE api_tokens ADD COLUMN last_used_at timestamptz;
