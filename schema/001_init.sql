-- 001: teams, virtual keys and the usage ledger.
-- Applied once at start-up; PRAGMA user_version records the last migration.

CREATE TABLE teams (
    id          TEXT PRIMARY KEY,            -- "team_" + 16 hex
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,            -- unix seconds
    rpm         INTEGER,                     -- limits; NULL = none / default
    tpm         INTEGER,
    budget_usd  REAL,
    metadata    TEXT NOT NULL DEFAULT '{}'   -- JSON object
);

CREATE TABLE keys (
    id          TEXT PRIMARY KEY,            -- "key_" + 16 hex, stable public id
    name        TEXT NOT NULL,
    team_id     TEXT REFERENCES teams(id),
    key_hash    BLOB NOT NULL UNIQUE,        -- SHA-256 of the secret
    prefix      TEXT NOT NULL,               -- first characters, for display
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    expires_at  INTEGER,
    is_admin    INTEGER NOT NULL DEFAULT 0,
    rpm         INTEGER,
    tpm         INTEGER,
    budget_usd  REAL,
    models      TEXT,                        -- JSON array of allowed models; NULL = all
    metadata    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX keys_team ON keys(team_id);
-- a name identifies one live key; revoked keys keep theirs for the record
CREATE UNIQUE INDEX keys_live_name ON keys(name) WHERE revoked_at IS NULL;

CREATE TABLE usage (
    request_id        TEXT PRIMARY KEY,
    created_at        INTEGER NOT NULL,      -- unix milliseconds, request start
    key_id            TEXT,                  -- NULL when auth failed
    team_id           TEXT,
    endpoint          TEXT NOT NULL,
    model             TEXT,                  -- what the client asked for
    provider          TEXT,                  -- provider config name
    upstream_model    TEXT,
    status            INTEGER NOT NULL,      -- HTTP status sent to the client
    stream            INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens     INTEGER NOT NULL DEFAULT 0,
    cost_usd          REAL NOT NULL DEFAULT 0,
    latency_ms        REAL NOT NULL DEFAULT 0,
    ttfb_ms           REAL,
    overhead_us       INTEGER,
    client_gone       INTEGER NOT NULL DEFAULT 0,
    error             TEXT
);
CREATE INDEX usage_time ON usage(created_at);
CREATE INDEX usage_key_time ON usage(key_id, created_at);
