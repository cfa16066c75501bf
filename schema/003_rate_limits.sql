-- 003: the remaining rate-limit dimensions, for keys and teams alike.
ALTER TABLE keys ADD COLUMN tpd INTEGER;            -- tokens per day
ALTER TABLE keys ADD COLUMN max_parallel INTEGER;   -- requests in flight at once
ALTER TABLE teams ADD COLUMN tpd INTEGER;
ALTER TABLE teams ADD COLUMN max_parallel INTEGER;
