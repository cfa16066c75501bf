-- 005: prompt tokens written to a provider's prompt cache, billed at the
-- model's cache_write_per_mtok (part of prompt_tokens, like cached_tokens).
ALTER TABLE usage ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
