-- 007: the response cache's SQLite tier (gatewayd/cache.h, docs/caching.md)
-- and the accounting of answers served from it. An entry is one complete
-- answer in the gateway's neutral form (replayed into either front door,
-- streamed or not), found by the hash of what decides the output: the
-- tenant partition, the model name the client asked for and the canonical
-- request. Written only by the writer thread.
CREATE TABLE cache_entries (
    id                INTEGER PRIMARY KEY,
    key               BLOB NOT NULL UNIQUE,  -- BLAKE2b-256 of partition, model, canonical request
    partition         TEXT NOT NULL,         -- who may read it: "team:ID", "key:ID", or "*" (shared)
    key_id            TEXT,                  -- the key whose request made it
    team_id           TEXT,
    model             TEXT NOT NULL,         -- the model name the client asked for
    provider          TEXT,                  -- provider config name that answered
    upstream_model    TEXT,
    question          TEXT,                  -- the last user message's text (semantic index)
    request           TEXT NOT NULL,         -- the canonical request JSON that was hashed
    answer            TEXT NOT NULL,         -- the neutral answer JSON
    created_at        INTEGER NOT NULL,      -- unix milliseconds
    expires_at        INTEGER NOT NULL,      -- unix milliseconds
    hits              INTEGER NOT NULL DEFAULT 0,
    last_hit_at       INTEGER,               -- unix milliseconds
    used_at           INTEGER NOT NULL,      -- created_at or the last hit: eviction order
    bytes             INTEGER NOT NULL,      -- what the entry counts against cache.db_max_bytes
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd          REAL NOT NULL DEFAULT 0, -- what the answer cost when it was made
    -- the semantic tier (gatewayd/cache_semantic.c): the question's vector,
    -- the embedder that made it, and the partition it may match in (a hash
    -- of tenant, model, system prompt and every other part of the request
    -- but the last user message); NULL when the entry has no vector
    sem_partition     INTEGER,
    embedder          TEXT,
    embedding         BLOB
);
CREATE INDEX cache_entries_used ON cache_entries(used_at);
CREATE INDEX cache_entries_expiry ON cache_entries(expires_at);
CREATE INDEX cache_entries_model ON cache_entries(model, created_at);
CREATE INDEX cache_entries_key ON cache_entries(key_id, created_at);

-- The tier's totals, kept by triggers in the same transactions as the rows
-- (so a size check is one read, and a rolled-back change leaves them right).
CREATE TABLE cache_totals (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    entries INTEGER NOT NULL,
    bytes   INTEGER NOT NULL
);
INSERT INTO cache_totals (id, entries, bytes) VALUES (1, 0, 0);
CREATE TRIGGER cache_entries_added AFTER INSERT ON cache_entries BEGIN
    UPDATE cache_totals SET entries = entries + 1, bytes = bytes + NEW.bytes WHERE id = 1;
END;
CREATE TRIGGER cache_entries_removed AFTER DELETE ON cache_entries BEGIN
    UPDATE cache_totals SET entries = entries - 1, bytes = bytes - OLD.bytes WHERE id = 1;
END;
CREATE TRIGGER cache_entries_resized AFTER UPDATE OF bytes ON cache_entries BEGIN
    UPDATE cache_totals SET bytes = bytes - OLD.bytes + NEW.bytes WHERE id = 1;
END;

-- A request answered from the cache: 'exact' (or 'semantic'); NULL when the
-- upstream answered. Such a row bills nothing; saved_* is what the cached
-- answer cost when it was made.
ALTER TABLE usage ADD COLUMN cache_hit TEXT;
ALTER TABLE usage ADD COLUMN saved_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN saved_cost_usd REAL NOT NULL DEFAULT 0;
