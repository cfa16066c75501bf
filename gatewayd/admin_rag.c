/* The admin commands of RAG context (docs/rag.md, docs/admin-protocol.md):
 * rag.add, rag.list, rag.remove and rag.search. A document arrives as text
 * (gwctl reads the files); rag.add cuts it into chunks (chunker.h, with the
 * config's rag.chunk_chars and rag.chunk_overlap; markdown by the file's
 * name), embeds each chunk with the local embedder (its heading line and
 * its text) on the admin session's thread, and stores them on the writer
 * thread (gw_writer_run) in one transaction that first removes the chunks
 * the same file had in the collection. Changes are followed by a rebuild of
 * the in-memory collections (rag.h), so the next request sees them. Reads
 * use the session's read-only connection; rag.search reads the in-memory
 * collections, as a request would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "arena.h"
#include "buf.h"
#include "chunker.h"
#include "embed.h"
#include "rag.h"
#include "runtime.h"
#include "writer.h"

#define MAX_FILE_NAME 255

/* "collection" (required unless optional): 1 and *out, 0 when absent and
 * optional, -1 (error set) */
static int collection_arg(struct gw_admin_ctx *ctx, const cJSON *args, int optional,
                          const char **out)
{
    int rc = gw_admin_arg_str(ctx, args, "collection", out);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (optional)
            return 0;
        gw_admin_fail(ctx, "bad_request", "\"collection\" is required");
        return -1;
    }
    if (!gw_rag_name_valid(*out)) {
        gw_admin_fail(ctx, "bad_request",
                      "'%.80s': a collection name is 1 to 64 letters, digits, '_', '-' or '.'",
                      *out);
        return -1;
    }
    return 1;
}

static int file_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_FILE_NAME || strchr(s, '/'))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ',')
            return 0;
    return 1;
}

static cJSON *reload_and(struct gw_admin_ctx *ctx, cJSON *result)
{
    char err[300];
    if (gw_rag_reload(ctx->db_path, err, sizeof err) != 0) {
        cJSON_Delete(result);
        return gw_admin_fail(ctx, "internal", "%s", err);
    }
    return result;
}

/* ---- rag.add ------------------------------------------------------------------ */

struct new_chunk {
    int seq;
    char *heading, *text;
    unsigned char blob[GW_EMBED_LOCAL_DIM * 4];
};

struct rag_file {
    const char *name;
    struct new_chunk *chunks;
    long n;
    long replaced; /* chunks the file had before (set by the writer) */
};

struct rag_add {
    const char *collection;
    struct rag_file *files;
    size_t n_files;
    long long now;
};

static int rag_add_apply(sqlite3 *db, void *arg)
{
    struct rag_add *ra = arg;
    sqlite3_stmt *del = NULL, *ins = NULL;
    int rc = sqlite3_prepare_v2(db, "DELETE FROM rag_chunks WHERE collection = ? AND source = ?",
                                -1, &del, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO rag_chunks (collection, source, seq, heading, text, "
                                "embedder, dim, embedding, created_at) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                -1, &ins, NULL);
    for (size_t f = 0; rc == SQLITE_OK && f < ra->n_files; f++) {
        struct rag_file *rf = &ra->files[f];
        sqlite3_reset(del);
        sqlite3_bind_text(del, 1, ra->collection, -1, SQLITE_STATIC);
        sqlite3_bind_text(del, 2, rf->name, -1, SQLITE_STATIC);
        rc = sqlite3_step(del) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        rf->replaced = rc == SQLITE_OK ? sqlite3_changes(db) : 0;
        for (long i = 0; rc == SQLITE_OK && i < rf->n; i++) {
            const struct new_chunk *c = &rf->chunks[i];
            sqlite3_reset(ins);
            sqlite3_bind_text(ins, 1, ra->collection, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 2, rf->name, -1, SQLITE_STATIC);
            sqlite3_bind_int(ins, 3, c->seq);
            sqlite3_bind_text(ins, 4, c->heading, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 5, c->text, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 6, GW_EMBED_LOCAL_ID, -1, SQLITE_STATIC);
            sqlite3_bind_int(ins, 7, GW_EMBED_LOCAL_DIM);
            sqlite3_bind_blob(ins, 8, c->blob, sizeof c->blob, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 9, ra->now);
            rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        }
    }
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    return rc;
}

static void free_files(struct rag_file *files, size_t n)
{
    for (size_t f = 0; files && f < n; f++) {
        for (long i = 0; i < files[f].n; i++) {
            free(files[f].chunks[i].heading);
            free(files[f].chunks[i].text);
        }
        free(files[f].chunks);
    }
    free(files);
}

/* Cuts and embeds one document. Returns 0, or -1 with the error set. */
static int prepare_file(struct gw_admin_ctx *ctx, const struct gw_rag_cfg *g, const char *name,
                        const char *text, struct rag_file *rf)
{
    struct gw_chunk_opts o = {.max_chars = (size_t)g->chunk_chars,
                              .overlap_chars = (size_t)g->chunk_overlap,
                              .markdown = gw_chunk_is_markdown(name)};
    struct gw_chunk *ch = NULL;
    long n = gw_chunk_split(text, strlen(text), &o, &ch);
    rf->name = name;
    if (n < 0) {
        gw_admin_fail(ctx, "internal", "%s: out of memory while cutting it into chunks", name);
        return -1;
    }
    rf->chunks = calloc(n ? (size_t)n : 1, sizeof *rf->chunks);
    if (!rf->chunks) {
        free(ch);
        gw_admin_fail(ctx, "internal", "out of memory");
        return -1;
    }
    float v[GW_EMBED_LOCAL_DIM];
    struct gw_buf b = {0};
    int rc = 0;
    for (long i = 0; i < n && rc == 0; i++) {
        struct new_chunk *c = &rf->chunks[rf->n];
        c->heading = strndup(text + ch[i].head_off, ch[i].head_len);
        c->text = strndup(text + ch[i].off, ch[i].len);
        rf->n++;
        if (!c->heading || !c->text) {
            gw_admin_fail(ctx, "internal", "out of memory");
            rc = -1;
            break;
        }
        gw_buf_reset(&b);
        gw_buf_printf(&b, "%s\n%s", c->heading, c->text);
        int e = gw_embed_local(b.data ? b.data : "", b.len, v);
        if (e < 0) {
            gw_admin_fail(ctx, "internal", "out of memory");
            rc = -1;
        } else if (e == 1) {
            /* no words (punctuation, a table rule): nothing to match; dropped */
            free(c->heading);
            free(c->text);
            rf->n--;
        } else {
            c->seq = (int)rf->n;
            gw_vec_pack(v, GW_EMBED_LOCAL_DIM, c->blob);
        }
    }
    gw_buf_free(&b);
    free(ch);
    return rc;
}

cJSON *gw_admin_cmd_rag_add(struct gw_admin_ctx *ctx, const cJSON *args)
{
    const char *coll;
    if (collection_arg(ctx, args, 0, &coll) < 0)
        return NULL;
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(args, "files");
    int n = cJSON_IsArray(files) ? cJSON_GetArraySize(files) : 0;
    if (n == 0)
        return gw_admin_fail(ctx, "bad_request",
                             "\"files\" is required: a list of {\"file_name\", \"text\"}");
    const cJSON *f;
    int i = 0;
    cJSON_ArrayForEach(f, files)
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(f, "file_name");
        const cJSON *tx = cJSON_GetObjectItemCaseSensitive(f, "text");
        if (!cJSON_IsString(fn) || !cJSON_IsString(tx))
            return gw_admin_fail(ctx, "bad_request",
                                 "files[%d] needs \"file_name\" and \"text\" (strings)", i);
        if (!file_name_ok(fn->valuestring))
            return gw_admin_fail(ctx, "bad_request",
                                 "files[%d]: '%.80s' is not a usable file name (no '/', ',' or "
                                 "control characters, at most %d bytes)",
                                 i, fn->valuestring, MAX_FILE_NAME);
        for (const cJSON *g = files->child; g != f; g = g->next)
            if (strcmp(cJSON_GetObjectItemCaseSensitive(g, "file_name")->valuestring,
                       fn->valuestring) == 0)
                return gw_admin_fail(ctx, "bad_request", "file '%.80s' is given twice",
                                     fn->valuestring);
        i++;
    }
    struct gw_cfg_ref *ref = gw_runtime_config_acquire();
    struct gw_rag_cfg g = ref->cfg->rag;
    gw_runtime_config_release(ref);

    struct rag_add ra = {.collection = coll, .now = (long long)time(NULL)};
    ra.files = calloc((size_t)n, sizeof *ra.files);
    if (!ra.files)
        return gw_admin_fail(ctx, "internal", "out of memory");
    cJSON *res = NULL;
    cJSON_ArrayForEach(f, files)
    {
        if (prepare_file(ctx, &g, cJSON_GetObjectItemCaseSensitive(f, "file_name")->valuestring,
                         cJSON_GetObjectItemCaseSensitive(f, "text")->valuestring,
                         &ra.files[ra.n_files++]) != 0)
            goto out;
    }
    int rc = gw_writer_run(rag_add_apply, &ra);
    if (rc != SQLITE_OK) {
        gw_admin_fail(ctx, "internal", "could not store the chunks: %s", sqlite3_errstr(rc));
        goto out;
    }
    res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "collection", coll);
    cJSON *arr = cJSON_AddArrayToObject(res, "files");
    long total = 0;
    for (size_t k = 0; k < ra.n_files; k++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", ra.files[k].name);
        cJSON_AddNumberToObject(o, "chunks", (double)ra.files[k].n);
        cJSON_AddNumberToObject(o, "replaced", (double)ra.files[k].replaced);
        cJSON_AddItemToArray(arr, o);
        total += ra.files[k].n;
    }
    cJSON_AddNumberToObject(res, "chunks", (double)total);
    cJSON_AddStringToObject(res, "embedder", GW_EMBED_LOCAL_ID);
    res = reload_and(ctx, res);
out:
    free_files(ra.files, ra.n_files);
    return res;
}

/* ---- rag.list ----------------------------------------------------------------- */

cJSON *gw_admin_cmd_rag_list(struct gw_admin_ctx *ctx, const cJSON *args)
{
    const char *coll = NULL;
    int has = collection_arg(ctx, args, 1, &coll);
    if (has < 0)
        return NULL;
    sqlite3_stmt *st;
    const char *sql =
        has ? "SELECT source, count(*), sum(length(CAST(text AS BLOB))), max(created_at) "
              "FROM rag_chunks WHERE collection = ? GROUP BY source ORDER BY source"
            : "SELECT collection, count(DISTINCT source), count(*), "
              "sum(length(CAST(text AS BLOB))), max(created_at) "
              "FROM rag_chunks GROUP BY collection ORDER BY collection";
    if (sqlite3_prepare_v2(ctx->db, sql, -1, &st, NULL) != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "%s", sqlite3_errmsg(ctx->db));
    if (has)
        sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
    cJSON *res = cJSON_CreateObject();
    if (has)
        cJSON_AddStringToObject(res, "collection", coll);
    cJSON *arr = cJSON_AddArrayToObject(res, has ? "files" : "collections");
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        int c = 0;
        cJSON_AddStringToObject(o, has ? "file" : "name",
                                (const char *)sqlite3_column_text(st, c++));
        if (!has)
            cJSON_AddNumberToObject(o, "files", (double)sqlite3_column_int64(st, c++));
        cJSON_AddNumberToObject(o, "chunks", (double)sqlite3_column_int64(st, c++));
        cJSON_AddNumberToObject(o, "bytes", (double)sqlite3_column_int64(st, c++));
        cJSON_AddNumberToObject(o, "updated_at", (double)sqlite3_column_int64(st, c++));
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(st);
    if (has && cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(res);
        return gw_admin_fail(ctx, "not_found", "no collection named %s", coll);
    }
    return res;
}

/* ---- rag.remove --------------------------------------------------------------- */

struct rag_remove {
    const char *collection, *file;
    long removed;
};

static int rag_remove_apply(sqlite3 *db, void *arg)
{
    struct rag_remove *rr = arg;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                rr->file ? "DELETE FROM rag_chunks WHERE collection = ? AND "
                                           "source = ?"
                                         : "DELETE FROM rag_chunks WHERE collection = ?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, rr->collection, -1, SQLITE_STATIC);
    if (rr->file)
        sqlite3_bind_text(st, 2, rr->file, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    rr->removed = rc == SQLITE_OK ? sqlite3_changes(db) : 0;
    sqlite3_finalize(st);
    return rc;
}

cJSON *gw_admin_cmd_rag_remove(struct gw_admin_ctx *ctx, const cJSON *args)
{
    struct rag_remove rr = {0};
    if (collection_arg(ctx, args, 0, &rr.collection) < 0 ||
        gw_admin_arg_str(ctx, args, "file", &rr.file) < 0)
        return NULL;
    int rc = gw_writer_run(rag_remove_apply, &rr);
    if (rc != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "could not remove: %s", sqlite3_errstr(rc));
    if (rr.removed == 0)
        return rr.file ? gw_admin_fail(ctx, "not_found", "collection %s has no file %.80s",
                                       rr.collection, rr.file)
                       : gw_admin_fail(ctx, "not_found", "no collection named %s", rr.collection);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "collection", rr.collection);
    if (rr.file)
        cJSON_AddStringToObject(res, "file", rr.file);
    cJSON_AddNumberToObject(res, "removed_chunks", (double)rr.removed);
    return reload_and(ctx, res);
}

/* ---- rag.search --------------------------------------------------------------- */

cJSON *gw_admin_cmd_rag_search(struct gw_admin_ctx *ctx, const cJSON *args)
{
    const char *coll, *query = NULL;
    if (collection_arg(ctx, args, 0, &coll) < 0 || gw_admin_arg_str(ctx, args, "query", &query) < 0)
        return NULL;
    if (!query)
        return gw_admin_fail(ctx, "bad_request", "\"query\" is required");
    struct gw_cfg_ref *ref = gw_runtime_config_acquire();
    int k = ref->cfg->rag.top_k;
    double threshold = ref->cfg->rag.threshold;
    gw_runtime_config_release(ref);
    const cJSON *tk = cJSON_GetObjectItemCaseSensitive(args, "top_k");
    if (tk) {
        if (!cJSON_IsNumber(tk) || tk->valuedouble < 1 || tk->valuedouble > 32)
            return gw_admin_fail(ctx, "bad_request", "\"top_k\" must be 1 to 32");
        k = (int)tk->valuedouble;
    }
    if (gw_rag_chunks(coll) == 0)
        return gw_admin_fail(ctx, "not_found", "no collection named %s", coll);
    float v[GW_EMBED_LOCAL_DIM];
    int e = gw_embed_local(query, strlen(query), v);
    if (e != 0)
        return gw_admin_fail(ctx, e > 0 ? "bad_request" : "internal", "%s",
                             e > 0 ? "the query has no words" : "out of memory");
    struct gw_arena *a = gw_arena_new(16384);
    struct gw_rag_hit hits[32];
    int n = a ? gw_rag_search(coll, v, k, 0.0f, a, hits) : -1;
    if (n < 0) {
        gw_arena_destroy(a);
        return gw_admin_fail(ctx, "internal", "out of memory");
    }
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "collection", coll);
    cJSON_AddStringToObject(res, "query", query);
    cJSON_AddNumberToObject(res, "threshold", threshold);
    cJSON *arr = cJSON_AddArrayToObject(res, "hits");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        char label[GW_RAG_MAX_NAME + 24];
        snprintf(label, sizeof label, "%s:%lld", coll, (long long)hits[i].id);
        cJSON_AddStringToObject(o, "chunk", label);
        cJSON_AddNumberToObject(o, "id", (double)hits[i].id);
        cJSON_AddStringToObject(o, "file", hits[i].source);
        cJSON_AddNumberToObject(o, "seq", hits[i].seq);
        cJSON_AddStringToObject(o, "heading", hits[i].heading);
        cJSON_AddNumberToObject(o, "score", (double)(int)(hits[i].sim * 10000 + 0.5) / 10000);
        cJSON_AddBoolToObject(o, "above_threshold", hits[i].sim >= threshold);
        cJSON_AddStringToObject(o, "text", hits[i].text);
        cJSON_AddItemToArray(arr, o);
    }
    gw_arena_destroy(a);
    return res;
}
