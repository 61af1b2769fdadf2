-- The audit list is one static query with optional filters, which SQLite
-- plans once as a scan of audit_events_time (newest first) that filters
-- as it goes; these three indexes were never read, and every event paid
-- for them, including the token_issued event of every issued token.
-- (PostgreSQL plans with the filter values and keeps them.)
DROP INDEX audit_events_org;
DROP INDEX audit_events_actor;
DROP INDEX audit_events_subject;
