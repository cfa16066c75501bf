/* The request's texts and local embeddings, computed lazily and kept on
 * the request, and the provider embedding a stage asked for (req_embed.h). */
#include "req_embed.h"

#include <string.h>

#include "embed.h"
#include "request.h"

struct gw_req_embed {
    const char *text[GW_REQ_TEXT_N];
    float *vec[GW_REQ_TEXT_N];
    signed char state[GW_REQ_TEXT_N]; /* 0: not computed, 1: vec, -1: none */
    int computed;
    const char *provider_id; /* the provider embedding's embedder; NULL: none */
    float *provider_vec;
    int provider_dim;
};

static struct gw_req_embed *state_of(struct gw_request *r)
{
    if (!r->embed)
        r->embed = gw_arena_calloc(r->arena, sizeof *r->embed);
    return r->embed;
}

/* A message's text: a string content, or its text parts joined by sep. */
static void content_text(const cJSON *content, struct gw_buf *b, const char *sep)
{
    if (cJSON_IsString(content)) {
        gw_buf_puts(b, content->valuestring);
        return;
    }
    int first = 1;
    for (const cJSON *p = cJSON_IsArray(content) ? content->child : NULL; p; p = p->next) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsString(t))
            continue;
        if (!first)
            gw_buf_puts(b, sep);
        gw_buf_puts(b, t->valuestring);
        first = 0;
    }
}

static int is_user(const cJSON *m)
{
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    return cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0;
}

const char *gw_request_text(struct gw_request *r, enum gw_req_text which)
{
    struct gw_req_embed *e = state_of(r);
    if (!e || (unsigned)which >= GW_REQ_TEXT_N)
        return "";
    if (e->text[which])
        return e->text[which];
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->json, "messages");
    struct gw_buf b = {0};
    if (which == GW_REQ_TEXT_QUESTION) {
        const cJSON *last = NULL;
        for (const cJSON *m = cJSON_IsArray(msgs) ? msgs->child : NULL; m; m = m->next)
            if (is_user(m))
                last = m;
        if (last)
            content_text(cJSON_GetObjectItemCaseSensitive(last, "content"), &b, " ");
    } else {
        for (const cJSON *m = cJSON_IsArray(msgs) ? msgs->child : NULL; m; m = m->next) {
            if (!is_user(m))
                continue;
            if (b.len)
                gw_buf_puts(&b, "\n");
            content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), &b, "\n");
        }
    }
    e->text[which] = gw_arena_strndup(r->arena, b.data ? b.data : "", b.len);
    gw_buf_free(&b);
    return e->text[which] ? e->text[which] : "";
}

const float *gw_request_embedding(struct gw_request *r, enum gw_req_text which)
{
    struct gw_req_embed *e = state_of(r);
    if (!e || (unsigned)which >= GW_REQ_TEXT_N)
        return NULL;
    if (e->state[which])
        return e->state[which] > 0 ? e->vec[which] : NULL;
    const char *t = gw_request_text(r, which);
    float *v = gw_arena_alloc(r->arena, GW_EMBED_LOCAL_DIM * sizeof *v);
    int rc = v ? gw_embed_local(t, strlen(t), v) : -1;
    e->computed++;
    e->state[which] = rc == 0 ? 1 : -1;
    e->vec[which] = rc == 0 ? v : NULL;
    return e->vec[which];
}

int gw_request_embeddings_computed(const struct gw_request *r)
{
    return r->embed ? r->embed->computed : 0;
}

const float *gw_request_provider_embedding(struct gw_request *r, const char *embedder, int *dim)
{
    struct gw_req_embed *e = r->embed;
    if (!e || !e->provider_id || !embedder || strcmp(e->provider_id, embedder) != 0)
        return NULL;
    *dim = e->provider_dim;
    return e->provider_vec;
}

int gw_request_set_provider_embedding(struct gw_request *r, const char *embedder, const float *v,
                                      int dim)
{
    struct gw_req_embed *e = state_of(r);
    if (!e || !v || dim <= 0)
        return -1;
    float *copy = gw_arena_alloc(r->arena, (size_t)dim * sizeof *copy);
    const char *id = gw_arena_strdup(r->arena, embedder);
    if (!copy || !id)
        return -1;
    memcpy(copy, v, (size_t)dim * sizeof *copy);
    e->provider_id = id;
    e->provider_vec = copy;
    e->provider_dim = dim;
    return 0;
}
