-- 008: a team may be limited to a list of models, like a key (keys.models):
-- a request must be allowed by both its key's list and its team's.
ALTER TABLE teams ADD COLUMN models TEXT;    -- JSON array of allowed models; NULL = all
