/* The answer's text filters: PII restoration, then the output guard (see
 * textfilter.h for the contract and the design). */
#include "textfilter.h"

#include <stdlib.h>
#include <string.h>

#include "acmatch.h"
#include "pii.h"

struct gw_textfilter {
    const struct gw_pii_map *map;
    const struct gw_ac *guard;
    size_t guard_keep; /* the most the guard holds back: the longest phrase - 1 */
    const struct gw_textfilter_sink *sink;
    void *ctx;
    struct gw_pii_restorer rs; /* the open channel's */
    int tool, key;             /* the open channel: text, or tool call key */
    struct gw_ac_scan scan;    /* the guard's, on the open channel */
    struct gw_buf held;        /* the guard's: text that may begin a blocked phrase */
    int blocked;
    struct gw_buf scratch; /* restored text on its way to the guard */
};

struct gw_textfilter *gw_textfilter_new(const struct gw_pii_map *map, const struct gw_ac *guard,
                                        size_t guard_max, const struct gw_textfilter_sink *sink,
                                        void *ctx)
{
    struct gw_textfilter *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->map = map;
    f->guard = guard;
    f->guard_keep = guard_max > 0 ? guard_max - 1 : 0;
    f->sink = sink;
    f->ctx = ctx;
    gw_pii_restore_init(&f->rs, map, 0);
    return f;
}

void gw_textfilter_free(struct gw_textfilter *f)
{
    if (!f)
        return;
    gw_buf_free(&f->held);
    gw_buf_free(&f->scratch);
    free(f);
}

int gw_textfilter_blocked(const struct gw_textfilter *f)
{
    return f && f->blocked;
}

/* Text of the open channel to the sink. A tool call's first piece (id or
 * name) goes even when it is empty: it opens the call. */
static int emit(struct gw_textfilter *f, const char *s, size_t n, const char *id, const char *name,
                struct gw_buf *out)
{
    if (f->tool)
        return n || id || name ? f->sink->tool(f->ctx, f->key, id, name, s ? s : "", n, out) : 0;
    return n ? f->sink->text(f->ctx, s, n, out) : 0;
}

/* The guard over restored text of the open channel: what cannot be part
 * of a blocked phrase goes to the sink, the rest waits in held. */
static int guard(struct gw_textfilter *f, const char *s, size_t n, const char *id, const char *name,
                 struct gw_buf *out)
{
    if (f->blocked)
        return 0;
    if (!f->guard)
        return emit(f, s, n, id, name, out);
    size_t base = f->held.len, safe = 0;
    if (n && gw_buf_append(&f->held, s, n) != 0)
        return -1;
    const char *h = f->held.data;
    for (size_t k = 0; k < n; k++) {
        int hit = gw_ac_feed(f->guard, &f->scan, s + k, 1);
        if (hit >= 0) { /* the text before the phrase goes, then the end */
            int rc = emit(f, h, safe, id, name, out);
            gw_buf_reset(&f->held);
            f->blocked = 1;
            f->sink->blocked(f->ctx, hit, out);
            return rc;
        }
        if (f->scan.state == 0)
            safe = base + k + 1; /* no phrase under way: all so far may go */
    }
    size_t len = f->held.len;
    if (len > f->guard_keep && len - f->guard_keep > safe)
        safe = len - f->guard_keep;
    while (safe > 0 && safe < len && ((unsigned char)h[safe] & 0xc0) == 0x80)
        safe--; /* never inside a UTF-8 character */
    int rc = emit(f, h, safe, id, name, out);
    gw_buf_consume(&f->held, safe);
    return rc;
}

/* A piece of the open channel: restored, then guarded. */
static int feed(struct gw_textfilter *f, const char *s, size_t n, const char *id, const char *name,
                struct gw_buf *out)
{
    if (!f->map)
        return guard(f, s, n, id, name, out);
    gw_buf_reset(&f->scratch);
    if (gw_pii_restore_feed(&f->rs, s, n, &f->scratch) != 0)
        return -1;
    return guard(f, f->scratch.data, f->scratch.len, id, name, out);
}

int gw_textfilter_flush(struct gw_textfilter *f, struct gw_buf *out)
{
    int rc = 0;
    if (f->map && f->rs.n_hold) {
        gw_buf_reset(&f->scratch);
        rc = gw_pii_restore_flush(&f->rs, &f->scratch);
        if (rc == 0)
            rc = guard(f, f->scratch.data, f->scratch.len, NULL, NULL, out);
    }
    f->scan = (struct gw_ac_scan){0}; /* the channel's text is over */
    if (!f->blocked && f->held.len && rc == 0)
        rc = emit(f, f->held.data, f->held.len, NULL, NULL, out);
    gw_buf_reset(&f->held);
    return rc;
}

/* Makes (tool, key) the open channel, letting the old one's tail out. */
static int open_channel(struct gw_textfilter *f, int tool, int key, struct gw_buf *out)
{
    if (f->tool == tool && (!tool || f->key == key))
        return 0;
    int rc = gw_textfilter_flush(f, out);
    f->tool = tool;
    f->key = key;
    gw_pii_restore_init(&f->rs, f->map, tool); /* argument JSON: values escaped */
    return rc;
}

int gw_textfilter_text(struct gw_textfilter *f, const char *s, size_t n, struct gw_buf *out)
{
    if (f->blocked)
        return 0;
    if (open_channel(f, 0, 0, out) != 0)
        return -1;
    return feed(f, s, n, NULL, NULL, out);
}

int gw_textfilter_tool(struct gw_textfilter *f, int key, const char *id, const char *name,
                       const char *args, size_t n, struct gw_buf *out)
{
    if (f->blocked)
        return 0;
    if (open_channel(f, 1, key, out) != 0)
        return -1;
    return feed(f, args ? args : "", n, id, name, out);
}
