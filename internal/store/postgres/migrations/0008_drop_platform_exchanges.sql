-- Exchanged JWTs are no longer recorded: each names its platform token
-- (client_id), and verification looks that token up by id, so revoking the
-- token refuses its JWTs without a row per JWT (SECURITY.md T42). The
-- indexes go with the table.
DROP TABLE platform_exchanges;
