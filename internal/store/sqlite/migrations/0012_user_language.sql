-- Profile (SPEC §8): the language a user chose on /settings/profile, a
-- BCP 47 tag of a catalog; '' lets the browser decide (SPEC §5 order).
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT '';
