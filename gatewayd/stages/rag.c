/* Stage rag: RAG context (config `rag:`, docs/rag.md). A request whose key
 * (rag.keys) or model (a model's `rag: {collection: C}`) names a collection
 * gets the collection's top_k chunks most similar to its question (the last
 * user message, req_embed.h: embedded once per request, the same vector the
 * semantic cache uses) with a similarity of at least rag.threshold, up to
 * rag.max_context_chars of text, added to its system message in a
 * delimited block (a system message is created when there is none). The
 * request is marked json_rewritten, and the answer carries
 * `x-gw-rag-chunks: C:ID,C:ID` (the chunks' ids, `gwctl rag search` shows
 * them).
 *
 * No-op (nothing computed) when rag is off, the request names no
 * collection, its key maps to `none`, or the collection is unknown or
 * empty; no header then. The rate-limit and max_input_tokens checks ran
 * before this stage and did not count the added context; the provider
 * bills it (docs/rag.md). */
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "pipeline.h"
#include "rag.h"
#include "req_embed.h"
#include "request.h"

#define MAX_HITS 32

static const char *collection_for(const struct gw_request *r)
{
    const struct gw_rag_cfg *g = &r->cfg->rag;
    for (size_t i = 0; i < g->n_keys && r->who.key_name; i++)
        if (strcmp(g->keys[i].key_name, r->who.key_name) == 0)
            return g->keys[i].collection;
    const struct gw_model_cfg *m = r->model_name ? gw_config_model(r->cfg, r->model_name) : NULL;
    return m ? m->rag_collection : NULL;
}

/* text cut to at most n bytes, at a UTF-8 character start */
static size_t fit(const char *text, size_t n)
{
    size_t len = strlen(text);
    if (len <= n)
        return len;
    while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* The context block, and the ids used, into ctx and ids. */
static int build_block(const struct gw_rag_cfg *g, const char *coll, const struct gw_rag_hit *h,
                       int n, struct gw_buf *ctx, struct gw_buf *ids)
{
    gw_buf_printf(ctx,
                  "Context retrieved from the knowledge base \"%s\" (use it when it is relevant "
                  "to the question; cite the [ids] you use):\n<context>\n",
                  coll);
    size_t budget = (size_t)g->max_context_chars, used = 0;
    int taken = 0;
    for (int i = 0; i < n && used < budget; i++) {
        size_t room = budget - used;
        size_t len = fit(h[i].text, room);
        if (len == 0 || (len < strlen(h[i].text) && taken > 0))
            break; /* a whole chunk or nothing, but the first is cut to fit */
        gw_buf_printf(ctx, "%s[%s:%lld] %s%s%s\n%.*s\n", taken ? "\n" : "", coll,
                      (long long)h[i].id, h[i].source, *h[i].heading ? " > " : "", h[i].heading,
                      (int)len, h[i].text);
        gw_buf_printf(ids, "%s%s:%lld", taken ? "," : "", coll, (long long)h[i].id);
        used += len;
        taken++;
    }
    gw_buf_puts(ctx, "</context>");
    return taken;
}

/* Adds block to the system message (the first message, when it is one) or
 * puts a new system message first. Returns 0, -1 when out of memory. */
static int inject(cJSON *json, const char *block)
{
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(json, "messages");
    if (!cJSON_IsArray(msgs))
        return -1;
    cJSON *first = msgs->child;
    cJSON *role = first ? cJSON_GetObjectItemCaseSensitive(first, "role") : NULL;
    if (cJSON_IsString(role) &&
        (strcmp(role->valuestring, "system") == 0 || strcmp(role->valuestring, "developer") == 0)) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(first, "content");
        if (cJSON_IsString(content)) {
            struct gw_buf b = {0};
            gw_buf_printf(&b, "%s\n\n%s", content->valuestring, block);
            int ok = b.data && cJSON_SetValuestring(content, b.data) != NULL;
            gw_buf_free(&b);
            return ok ? 0 : -1;
        }
        if (cJSON_IsArray(content)) {
            cJSON *part = cJSON_CreateObject();
            if (!part || !cJSON_AddStringToObject(part, "type", "text") ||
                !cJSON_AddStringToObject(part, "text", block)) {
                cJSON_Delete(part);
                return -1;
            }
            cJSON_AddItemToArray(content, part);
            return 0;
        }
    }
    cJSON *sys = cJSON_CreateObject();
    if (!sys || !cJSON_AddStringToObject(sys, "role", "system") ||
        !cJSON_AddStringToObject(sys, "content", block)) {
        cJSON_Delete(sys);
        return -1;
    }
    return cJSON_InsertItemInArray(msgs, 0, sys) ? 0 : -1;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    const struct gw_rag_cfg *g = &r->cfg->rag;
    if (!g->enabled)
        return GW_STAGE_CONTINUE;
    const char *coll = collection_for(r);
    if (!coll || strcmp(coll, "none") == 0)
        return GW_STAGE_CONTINUE;
    if (gw_rag_chunks(coll) == 0) {
        gw_debug("%s: rag: collection %s is empty or unknown", r->id, coll);
        return GW_STAGE_CONTINUE;
    }
    const float *q = gw_request_embedding(r, GW_REQ_TEXT_QUESTION);
    if (!q)
        return GW_STAGE_CONTINUE;
    struct gw_rag_hit hits[MAX_HITS];
    int n = gw_rag_search(coll, q, g->top_k < MAX_HITS ? g->top_k : MAX_HITS, (float)g->threshold,
                          r->arena, hits);
    if (n <= 0) {
        if (n < 0)
            gw_warn("%s: rag: search in %s failed (out of memory)", r->id, coll);
        return GW_STAGE_CONTINUE;
    }
    struct gw_buf block = {0}, ids = {0};
    int taken = build_block(g, coll, hits, n, &block, &ids);
    int rc = taken > 0 && block.data ? inject(r->json, block.data) : 0;
    if (rc != 0) {
        gw_buf_free(&block);
        gw_buf_free(&ids);
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
        return GW_STAGE_RESPOND;
    }
    if (taken > 0) {
        r->json_rewritten = 1;
        gw_request_add_header(r, "x-gw-rag-chunks", ids.data);
        gw_info("%s: rag: %d chunks of %s added (%s), best score %.3f", r->id, taken, coll,
                ids.data, hits[0].sim);
    }
    gw_buf_free(&block);
    gw_buf_free(&ids);
    return GW_STAGE_CONTINUE;
}

const struct gw_stage gw_stage_rag = {
    .name = "rag",
    .apis = GW_API_CHAT | GW_API_MESSAGES,
    .run = run,
};
