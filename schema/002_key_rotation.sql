-- 002: key rotation. A rotated key keeps its id (so usage stays joined to
-- it); the previous secret may stay valid for a grace period.
ALTER TABLE keys ADD COLUMN rotated_at INTEGER;
ALTER TABLE keys ADD COLUMN prev_key_hash BLOB;         -- SHA-256 of the previous secret
ALTER TABLE keys ADD COLUMN prev_prefix TEXT;
ALTER TABLE keys ADD COLUMN prev_valid_until INTEGER;   -- unix seconds; after it the old secret is refused
CREATE UNIQUE INDEX keys_prev_hash ON keys(prev_key_hash) WHERE prev_key_hash IS NOT NULL;
