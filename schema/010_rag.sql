-- RAG context (docs/rag.md): documents added with `gwctl rag add`, cut into
-- chunks, each stored with its text and its embedding. A collection exists
-- as long as it has chunks; adding a file again replaces its chunks.
CREATE TABLE rag_chunks (
    id          INTEGER PRIMARY KEY,         -- shown as COLLECTION:ID in x-gw-rag-chunks
    collection  TEXT NOT NULL,
    source      TEXT NOT NULL,               -- the file's base name
    seq         INTEGER NOT NULL,            -- the chunk's position in the file, from 1
    heading     TEXT NOT NULL DEFAULT '',    -- the markdown heading above it ('' if none)
    text        TEXT NOT NULL,
    embedder    TEXT NOT NULL,               -- e.g. gw-local-1 (embed.h: GW_EMBED_LOCAL_ID)
    dim         INTEGER NOT NULL,
    embedding   BLOB NOT NULL,               -- dim float32, little-endian
    created_at  INTEGER NOT NULL,            -- unix seconds
    UNIQUE (collection, source, seq)
);
