-- 006: durable answers. The whole answer of a request, in the caller's wire
-- format, kept for the key that made it (GET /v1/gw/requests[/{id}], gwctl
-- request show): by default only when the client left before receiving it
-- whole (config durable_answers). Written by the writer thread in the same
-- transaction as the request's usage row.
CREATE TABLE answers (
    request_id     TEXT PRIMARY KEY,     -- usage.request_id
    created_at     INTEGER NOT NULL,     -- unix milliseconds, request start
    expires_at     INTEGER,              -- unix milliseconds; NULL = kept until deleted
    key_id         TEXT NOT NULL,        -- the only key that may read it
    model          TEXT,                 -- what the client asked for
    status         INTEGER NOT NULL,     -- HTTP status of the answer
    stream         INTEGER NOT NULL DEFAULT 0,
    client_gone    INTEGER NOT NULL DEFAULT 0, -- the client did not receive it whole
    complete       INTEGER NOT NULL,     -- body is the whole answer, ended normally
    content_type   TEXT,
    response_bytes INTEGER NOT NULL,     -- the whole answer's size (> length(body) when cut)
    body           BLOB NOT NULL         -- the answer as the client got (or would have got) it
);
CREATE INDEX answers_key_time ON answers(key_id, created_at);
CREATE INDEX answers_expiry ON answers(expires_at) WHERE expires_at IS NOT NULL;
