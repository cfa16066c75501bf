/* What identifies a cached answer (cache.h): which requests the neutral form
 * can answer, the canonical text of a request, the key hashed from it, and
 * the question text kept with an entry.
 *
 * DESIGN: the key must be equal for requests that get the same answer and
 * differ for any that may not. The request is r->json, the chat-completions
 * form of both front doors (parse_messages translates /v1/messages), so an
 * OpenAI and an Anthropic caller asking the same thing share an entry; the
 * answer is replayed in each one's format. Everything in the body counts
 * except what only shapes the delivery (stream, stream_options), identifies
 * the caller (user, metadata) or asks for service (store, service_tier):
 * a member the gateway does not know is in the key, so a new parameter can
 * only make the cache miss, never answer wrongly. Equal meaning, equal
 * text: members sorted, numbers printed one way (1, 1.0 and 1e0 are the
 * same), null members dropped, max_completion_tokens and max_tokens one
 * name, a content of one text part the same as that text. The tenant
 * partition and the model name the client asked for are hashed in front,
 * each length-prefixed, so no two different triples hash the same bytes. */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cache.h"
#include "request.h"

int gw_cache_request_cacheable(const struct gw_request *r, const char **why)
{
    const cJSON *j = r->json;
    *why = NULL;
    if ((r->api != GW_API_CHAT && r->api != GW_API_MESSAGES) || !cJSON_IsObject(j))
        *why = "not a chat request";
    else if (r->anthropic_only_code)
        *why = "an Anthropic-only feature";
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "n");
    if (!*why && cJSON_IsNumber(n) && n->valuedouble != 1)
        *why = "n is not 1";
    if (!*why && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "logprobs")))
        *why = "logprobs";
    const cJSON *tl = cJSON_GetObjectItemCaseSensitive(j, "top_logprobs");
    if (!*why && tl && !cJSON_IsNull(tl))
        *why = "top_logprobs";
    static const char *const unexpressed[] = {"audio", "web_search_options"};
    for (size_t i = 0; !*why && i < sizeof unexpressed / sizeof *unexpressed; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, unexpressed[i]);
        if (v && !cJSON_IsNull(v))
            *why = unexpressed[i];
    }
    const cJSON *mod = cJSON_GetObjectItemCaseSensitive(j, "modalities");
    for (const cJSON *m = cJSON_IsArray(mod) ? mod->child : NULL; !*why && m; m = m->next)
        if (cJSON_IsString(m) && strcmp(m->valuestring, "text") != 0)
            *why = "a modality other than text";
    return *why == NULL;
}

/* ---- canonical text ------------------------------------------------------ */

static int canon_value(const cJSON *v, struct gw_buf *out);

static int canon_number(double d, struct gw_buf *out)
{
    if (d == floor(d) && fabs(d) < 1e15)
        return gw_buf_printf(out, "%lld", (long long)d);
    return gw_buf_printf(out, "%.17g", d);
}

static int by_name(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

/* The members of an object (those keep() accepts), sorted by name, into
 * *list (stack for small objects, else malloc'd: the caller frees it when
 * it is not stack). Returns how many, -1 when out of memory. */
static long sorted_members(const cJSON *o, int (*keep)(const cJSON *), const cJSON **stack,
                           size_t stack_n, const cJSON ***list)
{
    size_t n = 0;
    for (const cJSON *c = o->child; c; c = c->next)
        n++;
    const cJSON **l = n <= stack_n ? stack : malloc(n * sizeof *l);
    if (!l)
        return -1;
    size_t k = 0;
    for (const cJSON *c = o->child; c; c = c->next)
        if (c->string && (!keep || keep(c)))
            l[k++] = c;
    qsort(l, k, sizeof *l, by_name);
    *list = l;
    return (long)k;
}

/* A content of exactly one text part is written as its text. */
static const cJSON *one_text_part(const cJSON *content)
{
    if (!cJSON_IsArray(content) || !content->child || content->child->next)
        return NULL;
    const cJSON *p = content->child;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(p, "text");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 || !cJSON_IsString(text))
        return NULL;
    for (const cJSON *c = p->child; c; c = c->next)
        if (strcmp(c->string, "type") != 0 && strcmp(c->string, "text") != 0)
            return NULL;
    return text;
}

/* An object with sorted members; in_message: a message (content may be
 * simplified). */
static int canon_object(const cJSON *o, int in_message, struct gw_buf *out)
{
    const cJSON *stack[32], **l;
    long n = sorted_members(o, NULL, stack, 32, &l);
    if (n < 0)
        return -1;
    int rc = gw_buf_puts(out, "{");
    for (long i = 0; i < n && rc == 0; i++) {
        if (i)
            rc |= gw_buf_puts(out, ",");
        rc |= gw_buf_json_str(out, l[i]->string);
        rc |= gw_buf_puts(out, ":");
        const cJSON *text =
            in_message && strcmp(l[i]->string, "content") == 0 ? one_text_part(l[i]) : NULL;
        rc |= text ? canon_value(text, out) : canon_value(l[i], out);
    }
    rc |= gw_buf_puts(out, "}");
    if (l != stack)
        free(l);
    return rc ? -1 : 0;
}

static int canon_array(const cJSON *a, int of_messages, struct gw_buf *out)
{
    int rc = gw_buf_puts(out, "[");
    for (const cJSON *c = a->child; c && rc == 0; c = c->next) {
        if (c != a->child)
            rc |= gw_buf_puts(out, ",");
        rc |= of_messages && cJSON_IsObject(c) ? canon_object(c, 1, out) : canon_value(c, out);
    }
    rc |= gw_buf_puts(out, "]");
    return rc ? -1 : 0;
}

static int canon_value(const cJSON *v, struct gw_buf *out)
{
    if (cJSON_IsObject(v))
        return canon_object(v, 0, out);
    if (cJSON_IsArray(v))
        return canon_array(v, 0, out);
    if (cJSON_IsString(v))
        return gw_buf_json_str(out, v->valuestring);
    if (cJSON_IsNumber(v))
        return canon_number(v->valuedouble, out);
    if (cJSON_IsTrue(v))
        return gw_buf_puts(out, "true");
    if (cJSON_IsFalse(v))
        return gw_buf_puts(out, "false");
    return gw_buf_puts(out, "null");
}

/* Top-level members that do not change the answer. */
static int top_member(const cJSON *c)
{
    static const char *const ignored[] = {
        "model",        "stream",           "stream_options",    "user", "metadata", "store",
        "service_tier", "prompt_cache_key", "safety_identifier",
    };
    if (cJSON_IsNull(c))
        return 0;
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
        if (strcmp(c->string, ignored[i]) == 0)
            return 0;
    if (strcmp(c->string, "n") == 0 && cJSON_IsNumber(c) && c->valuedouble == 1)
        return 0;
    return 1;
}

int gw_cache_canonical(const cJSON *req, struct gw_buf *out)
{
    if (!cJSON_IsObject(req))
        return canon_value(req, out);
    const cJSON *stack[48], **l;
    long n = sorted_members(req, top_member, stack, 48, &l);
    if (n < 0)
        return -1;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
    int has_max = mt && !cJSON_IsNull(mt);
    /* max_completion_tokens alone is written as max_tokens, in max_tokens'
     * sorted place */
    const cJSON *mct = NULL;
    if (!has_max)
        for (long i = 0; i < n; i++)
            if (strcmp(l[i]->string, "max_completion_tokens") == 0)
                mct = l[i];
    int rc = gw_buf_puts(out, "{");
    int first = 1, mct_done = 0;
    for (long i = 0; i <= n && rc == 0; i++) {
        if (mct && !mct_done && (i == n || strcmp(l[i]->string, "max_tokens") > 0)) {
            rc |= gw_buf_puts(out, first ? "\"max_tokens\":" : ",\"max_tokens\":");
            rc |= canon_value(mct, out);
            first = 0;
            mct_done = 1;
        }
        if (i == n)
            break;
        if (l[i] == mct)
            continue;
        if (!first)
            rc |= gw_buf_puts(out, ",");
        first = 0;
        rc |= gw_buf_json_str(out, l[i]->string);
        rc |= gw_buf_puts(out, ":");
        if (strcmp(l[i]->string, "messages") == 0 && cJSON_IsArray(l[i]))
            rc |= canon_array(l[i], 1, out);
        else
            rc |= canon_value(l[i], out);
    }
    rc |= gw_buf_puts(out, "}");
    if (l != stack)
        free(l);
    return rc ? -1 : 0;
}

/* ---- the key -------------------------------------------------------------- */

static void put_field(crypto_generichash_state *st, const char *s, size_t n)
{
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((unsigned long long)n >> (8 * i));
    crypto_generichash_update(st, len, sizeof len);
    crypto_generichash_update(st, (const unsigned char *)s, n);
}

void gw_cache_key(const char *partition, const char *model, const char *extra, const char *canon,
                  size_t canon_len, unsigned char key[GW_CACHE_KEY_LEN])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, GW_CACHE_KEY_LEN);
    static const char version[] = "gatewayd-cache-1";
    put_field(&st, version, sizeof version - 1);
    put_field(&st, partition, strlen(partition));
    put_field(&st, model, strlen(model));
    put_field(&st, extra ? extra : "", extra ? strlen(extra) : 0);
    put_field(&st, canon, canon_len);
    crypto_generichash_final(&st, key, GW_CACHE_KEY_LEN);
}

/* ---- the question ----------------------------------------------------------- */

const char *gw_cache_question(const cJSON *req, struct gw_arena *a)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
    const cJSON *last = NULL;
    for (const cJSON *m = cJSON_IsArray(msgs) ? msgs->child : NULL; m; m = m->next) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0)
            last = m;
    }
    const cJSON *content = last ? cJSON_GetObjectItemCaseSensitive(last, "content") : NULL;
    if (cJSON_IsString(content))
        return gw_arena_strdup(a, content->valuestring);
    struct gw_buf b = {0};
    for (const cJSON *p = cJSON_IsArray(content) ? content->child : NULL; p; p = p->next) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsString(t))
            continue;
        if (b.len)
            gw_buf_puts(&b, " ");
        gw_buf_puts(&b, t->valuestring);
    }
    const char *q = gw_arena_strdup(a, b.data ? b.data : "");
    gw_buf_free(&b);
    return q;
}
