-- 011: per-key switches for the safety and cache stages (gwctl key create /
-- key update --pii, --pii-entities, --output-guard, --firewall, --cache,
-- --cache-ttl, --cache-threshold). NULL in any of them: the key follows the
-- configuration.
ALTER TABLE keys ADD COLUMN pii INTEGER;             -- 1 on, 0 off
ALTER TABLE keys ADD COLUMN pii_entities TEXT;       -- JSON array of entity names
ALTER TABLE keys ADD COLUMN output_guard INTEGER;    -- 1 on, 0 off
ALTER TABLE keys ADD COLUMN firewall INTEGER;        -- 1 on, 0 off
ALTER TABLE keys ADD COLUMN cache INTEGER;           -- 1 on, 0 off
ALTER TABLE keys ADD COLUMN cache_ttl INTEGER;       -- seconds an answer stays valid
ALTER TABLE keys ADD COLUMN cache_threshold REAL;    -- semantic tier's similarity, 0..1
