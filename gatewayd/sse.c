/* SSE splitting per the WHATWG event-stream rules that matter to a relay:
 * events end at a blank line; lines end in LF or CRLF; `data:` lines (one
 * optional space after the colon) are joined with LF; comments (":...") and
 * other fields are kept in the raw text but not in the data. */
#include "sse.h"

#include <string.h>

/* Finds the end of an event in p[from..n): returns the offset just past the
 * blank line, or 0 if there is none yet. */
static size_t event_end(const char *p, size_t n, size_t from)
{
    for (size_t i = from; i < n; i++) {
        if (p[i] != '\n')
            continue;
        /* a line ended at i; is the next line empty? */
        if (i + 1 < n && p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static int extract_data(struct gw_sse *s, const char *ev, size_t len)
{
    gw_buf_reset(&s->data);
    int first = 1;
    const char *p = ev, *end = ev + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t ll = (size_t)(le - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (ll >= 5 && memcmp(p, "data:", 5) == 0) {
            const char *v = p + 5;
            size_t vl = ll - 5;
            if (vl && *v == ' ')
                v++, vl--;
            if ((!first && gw_buf_append(&s->data, "\n", 1) != 0) ||
                gw_buf_append(&s->data, v, vl) != 0)
                return -1;
            first = 0;
        }
        p = nl ? nl + 1 : end;
    }
    if (!s->data.data && gw_buf_append(&s->data, "", 0) != 0)
        return -1;
    return 0;
}

int gw_sse_feed(struct gw_sse *s, const char *p, size_t n, gw_sse_event_fn fn, void *ctx)
{
    size_t max = s->max_event ? s->max_event : (size_t)4 << 20;
    if (gw_buf_append(&s->pending, p, n) != 0)
        return -1;
    size_t start = 0;
    size_t from = s->scanned > 0 ? s->scanned - 1 : 0;
    for (;;) {
        size_t end = event_end(s->pending.data, s->pending.len, from > start ? from : start);
        if (end == 0)
            break;
        if (end - start > max)
            return -1; /* the limit holds however the bytes were split */
        if (extract_data(s, s->pending.data + start, end - start) != 0)
            return -1;
        int rc = fn(ctx, s->pending.data + start, end - start, s->data.data, s->data.len);
        start = end;
        from = end;
        if (rc != 0) {
            gw_buf_consume(&s->pending, start);
            s->scanned = 0;
            return rc;
        }
    }
    gw_buf_consume(&s->pending, start);
    /* keep two bytes of look-back so an end split across feeds is found */
    s->scanned = s->pending.len > 2 ? s->pending.len - 2 : 0;
    if (s->pending.len > max)
        return -1;
    return 0;
}

void gw_sse_free(struct gw_sse *s)
{
    gw_buf_free(&s->pending);
    gw_buf_free(&s->data);
}
