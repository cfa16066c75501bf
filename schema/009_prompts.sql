-- 009: the prompt library (docs/prompts.md). A prompt is a name with
-- immutable, numbered versions; one version is active (what a request that
-- names the prompt without @VERSION gets). Version numbers are never reused,
-- not even after `prompt delete`, so a usage row's (prompt_name,
-- prompt_version) always means one template. Changes are written by the
-- writer thread; the daemon keeps every live version in memory.
CREATE TABLE prompts (
    name           TEXT PRIMARY KEY,
    active_version INTEGER,              -- NULL once deleted
    latest_version INTEGER NOT NULL,     -- the highest number ever given
    created_at     INTEGER NOT NULL,     -- unix seconds, first version
    updated_at     INTEGER NOT NULL,     -- unix seconds, last create/rollback/delete
    deleted_at     INTEGER               -- unix seconds; NULL: live
);

CREATE TABLE prompt_versions (
    name        TEXT NOT NULL REFERENCES prompts(name),
    version     INTEGER NOT NULL,
    template    TEXT NOT NULL,           -- the canonical template, JSON (common/prompt_tpl.h)
    source      TEXT NOT NULL,           -- the document as it was sent
    format      TEXT NOT NULL,           -- text | json | yaml
    created_at  INTEGER NOT NULL,        -- unix seconds
    created_by  TEXT,                    -- who ran gwctl (the OS user it reported)
    PRIMARY KEY (name, version)
);

-- What made a version active, and when: every create, rollback and delete.
CREATE TABLE prompt_events (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    at           INTEGER NOT NULL,       -- unix seconds
    by           TEXT,
    action       TEXT NOT NULL,          -- create | rollback | delete
    version      INTEGER,                -- the version made active (NULL: delete)
    from_version INTEGER                 -- the version active before (NULL: none)
);
CREATE INDEX prompt_events_name ON prompt_events(name, id);

-- The template a request used (x-gw-prompt / "prompt"), if any.
ALTER TABLE usage ADD COLUMN prompt_name TEXT;
ALTER TABLE usage ADD COLUMN prompt_version INTEGER;
