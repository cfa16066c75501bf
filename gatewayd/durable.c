/* Durable answers, the request side (see durable.h): the copy of a streamed
 * answer while it is handed over, and at the request's end the decision to
 * keep the answer and the row that keeps it.
 *
 * DESIGN: a copy is only made where one is needed. A non-streamed answer
 * (and the echo provider's, streamed or not) is whole in r->out at the end,
 * so it is copied once, into the row, and only when it is kept. A streamed
 * answer is consumed from r->out by the client as it goes, so the transfer
 * appends each piece to r->kept as well, up to durable_answers.max_bytes
 * (store: off keeps nothing). Whether a client will leave cannot be known in
 * advance, so under store: gone every stream keeps its copy: one memcpy of
 * the answer's bytes, small next to decoding and encoding them, and memory
 * about the answer's size per stream in flight. The copy is a list of
 * chunks growing from 4 KiB to 64 KiB rather than one buffer doubled by
 * realloc: nothing is copied twice, at most one chunk is partly empty (a
 * doubled buffer can be half empty), and chunks of a few sizes under
 * malloc's mmap threshold are reused from stream to stream. The chunks are
 * joined once, into the row, when the answer is kept. */
#include "durable.h"

#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "writer.h"

#define CHUNK_MIN 4096
#define CHUNK_MAX 65536

struct gw_durable_chunk {
    struct gw_durable_chunk *next;
    size_t len, cap;
    char data[];
};

void gw_durable_keep(struct gw_request *r, const char *p, size_t n)
{
    const struct gw_durable_answers *d = &r->cfg->durable_answers;
    struct gw_durable_copy *c = &r->kept;
    size_t limit = d->store == GW_DURABLE_OFF || !r->who.key_id ? 0 : (size_t)d->max_bytes;
    if (r->cache_keep > limit)
        limit = r->cache_keep; /* the cache stores it from the same copy (cache.h) */
    if (limit == 0)
        return;
    size_t room = limit > c->len ? limit - c->len : 0;
    size_t want = c->len == c->total ? (n < room ? n : room) : 0; /* nothing after a gap */
    c->total += n;
    while (want) {
        struct gw_durable_chunk *t = c->tail;
        if (!t || t->len == t->cap) {
            size_t cap = t ? (t->cap * 2 < CHUNK_MAX ? t->cap * 2 : CHUNK_MAX) : CHUNK_MIN;
            struct gw_durable_chunk *k = malloc(sizeof *k + cap);
            if (!k)
                return; /* the copy stops short: stored incomplete */
            k->next = NULL;
            k->len = 0;
            k->cap = cap;
            if (t)
                t->next = k;
            else
                c->head = k;
            c->tail = t = k;
        }
        size_t m = want < t->cap - t->len ? want : t->cap - t->len;
        memcpy(t->data + t->len, p, m);
        t->len += m;
        c->len += m;
        p += m;
        want -= m;
    }
}

int gw_durable_each(const struct gw_durable_copy *c, int (*fn)(void *arg, const char *p, size_t n),
                    void *arg)
{
    for (const struct gw_durable_chunk *k = c->head; k; k = k->next)
        if (fn(arg, k->data, k->len) != 0)
            return -1;
    return 0;
}

void gw_durable_free(struct gw_durable_copy *c)
{
    struct gw_durable_chunk *k = c->head;
    while (k) {
        struct gw_durable_chunk *next = k->next;
        free(k);
        k = next;
    }
    c->head = c->tail = NULL;
    c->len = 0;
}

/* The longest prefix of p[0..n) that does not end inside a UTF-8 sequence,
 * for an answer cut at max_bytes. */
static size_t utf8_prefix(const char *p, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)p[i - 1] & 0xc0) == 0x80)
        i--, back++;
    if (i == 0)
        return n;
    unsigned char lead = (unsigned char)p[i - 1];
    size_t need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
    if (lead < 0x80 || back >= need)
        return n; /* the last sequence is whole (or not UTF-8 at all) */
    return i - 1; /* drop the lead byte and its partial tail */
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

struct gw_answer_rec *gw_durable_capture(struct gw_request *r)
{
    const struct gw_durable_answers *d = &r->cfg->durable_answers;
    int gone = r->undelivered || r->client_gone;
    if (d->store == GW_DURABLE_OFF || (d->store == GW_DURABLE_GONE && !gone) || !r->who.key_id ||
        r->status == 0)
        return NULL;
    struct gw_answer_rec *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    size_t cap = (size_t)d->max_bytes;
    const char *whole = r->out.data ? r->out.data : "";
    if (r->streaming) {
        a->total = r->kept.total;
        a->len = r->kept.len < cap ? r->kept.len : cap; /* the cache may have kept more */
    } else {
        a->total = r->out.len;
        a->len = r->out.len < cap ? r->out.len : cap;
    }
    a->body = malloc(a->len + 1);
    if (!a->body) {
        a->len = 0;
    } else if (r->streaming) {
        size_t off = 0;
        for (const struct gw_durable_chunk *k = r->kept.head; k && off < a->len; k = k->next) {
            size_t m = k->len < a->len - off ? k->len : a->len - off;
            memcpy(a->body + off, k->data, m);
            off += m;
        }
        gw_durable_free(&r->kept);
    } else {
        memcpy(a->body, whole, a->len);
    }
    if (a->len < a->total)
        a->len = utf8_prefix(a->body, a->len);
    a->complete = a->len == a->total && !r->kept.broken;
    a->client_gone = gone;
    a->content_type = dup_or_null(r->content_type);
    if (d->retention_hours > 0)
        a->expires_at_ms = r->t_start_wall_ms + (long long)d->retention_hours * 3600000LL;
    return a;
}
