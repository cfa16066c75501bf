/* libFuzzer target for common/pii.c and gatewayd/textfilter.c. Input: byte
 * 0 the entity mask (its top bit: guard on), byte 1 N, then N % 8 + 1 piece
 * sizes, then the text. Checks: the scan reports values in order, without
 * overlaps, inside the text, of the types asked for; scrubbing then
 * restoring (the scrubbed text fed in the pieces the input describes, and
 * byte by byte) gives the text back exactly, with never more than a
 * placeholder's length held back; scrubbing again with the same map
 * (rescrub) gives the same scrubbed text; a second scrub of the same text
 * with the same map adds no entry. Then the scrubbed text goes through the
 * answer's text filter (restore, and a guard whose phrase is up to 6 bytes
 * taken from the text's middle): what passes is the text whole when the
 * phrase is not in it, else the text up to the phrase and never the phrase
 * (ASCII case folded), and the guard fires exactly then. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acmatch.h"
#include "buf.h"
#include "pii.h"
#include "textfilter.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

struct order {
    size_t end;
    unsigned mask;
    size_t n;
    size_t len;
};

static int on_span(void *arg, const struct gw_pii_span *sp)
{
    struct order *o = arg;
    CHECK(sp->len > 0 && sp->start >= o->end && sp->start + sp->len <= o->len);
    CHECK((unsigned)sp->type < GW_PII_N_TYPES && (o->mask & (1u << sp->type)));
    o->end = sp->start + sp->len;
    o->n++;
    return 0;
}

static void restore_pieces(const struct gw_pii_map *m, const char *s, size_t n,
                           const uint8_t *sizes, size_t nsizes, struct gw_buf *out)
{
    struct gw_pii_restorer rs;
    gw_pii_restore_init(&rs, m, 0);
    size_t at = 0, k = 0;
    while (at < n) {
        size_t piece = sizes[k++ % nsizes] % 40;
        if (piece == 0) { /* an empty feed, then a byte */
            CHECK(gw_pii_restore_feed(&rs, s + at, 0, out) == 0);
            piece = 1;
        }
        if (piece > n - at)
            piece = n - at;
        CHECK(gw_pii_restore_feed(&rs, s + at, piece, out) == 0);
        CHECK(rs.n_hold < GW_PII_PLACEHOLDER_MAX);
        at += piece;
    }
    CHECK(gw_pii_restore_flush(&rs, out) == 0);
}

/* ---- the text filter ------------------------------------------------------- */

struct sink_rec {
    struct gw_buf text;
    int blocks;
};

static int sink_text(void *ctx, const char *s, size_t n, struct gw_buf *out)
{
    struct sink_rec *r = ctx;
    CHECK(n > 0 && r->blocks == 0);
    CHECK(gw_buf_append(&r->text, s, n) == 0);
    return 0;
}

static int sink_tool(void *ctx, int key, const char *id, const char *name, const char *args,
                     size_t n, struct gw_buf *out)
{
    abort(); /* only text is fed */
}

static void sink_blocked(void *ctx, int pattern, struct gw_buf *out)
{
    struct sink_rec *r = ctx;
    CHECK(pattern == 0 && r->blocks == 0);
    r->blocks++;
}

static int fold(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Where phrase first ends in s (ASCII case folded): its end offset, or 0. */
static size_t first_end(const char *s, size_t n, const char *p, size_t pn)
{
    for (size_t i = 0; i + pn <= n; i++) {
        size_t k = 0;
        while (k < pn && fold((unsigned char)s[i + k]) == fold((unsigned char)p[k]))
            k++;
        if (k == pn)
            return i + pn;
    }
    return 0;
}

static void filter_check(const struct gw_pii_map *m, const char *text, size_t len,
                         const struct gw_buf *sc, const uint8_t *sizes, size_t nsizes, int guarded)
{
    static const struct gw_textfilter_sink sink = {sink_text, sink_tool, sink_blocked};
    char phrase[8] = "";
    size_t pn = 0;
    if (guarded && len > 0) {
        size_t from = len / 2;
        while (pn < 6 && from + pn < len && text[from + pn])
            pn++;
        memcpy(phrase, text + from, pn);
        phrase[pn] = '\0';
    }
    const char *pats[] = {phrase};
    struct gw_ac *ac = pn ? gw_ac_build(pats, 1) : NULL;
    CHECK(!pn || ac);
    struct sink_rec rec = {0};
    struct gw_buf out = {0};
    struct gw_textfilter *f = gw_textfilter_new(m, ac, pn, &sink, &rec);
    CHECK(f);
    size_t at = 0, k = 0;
    while (at < sc->len) {
        size_t piece = sizes[k++ % nsizes] % 40 + 1;
        if (piece > sc->len - at)
            piece = sc->len - at;
        CHECK(gw_textfilter_text(f, sc->data + at, piece, &out) == 0);
        at += piece;
    }
    CHECK(gw_textfilter_flush(f, &out) == 0);
    size_t end = pn ? first_end(text, len, phrase, pn) : 0;
    if (!end) {
        CHECK(rec.blocks == 0 && rec.text.len == len);
    } else {
        CHECK(rec.blocks == 1 && rec.text.len <= end - pn);
        CHECK(gw_textfilter_blocked(f));
    }
    CHECK(rec.text.len == 0 || memcmp(rec.text.data, text, rec.text.len) == 0);
    gw_textfilter_free(f);
    gw_buf_free(&rec.text);
    gw_buf_free(&out);
    gw_ac_free(ac);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned mask = data[0] & GW_PII_ALL;
    size_t nsizes = data[1] % 8 + 1;
    if (size < 2 + nsizes)
        return 0;
    const uint8_t *sizes = data + 2;
    size_t len = size - 2 - nsizes;
    char *text = malloc(len ? len : 1); /* exact size: reads past the end are caught */
    if (!text)
        return 0;
    memcpy(text, data + 2 + nsizes, len);

    struct order o = {.mask = mask, .len = len};
    size_t found = gw_pii_scan(text, len, mask, on_span, &o);
    CHECK(found == o.n);

    struct gw_pii_map *m = gw_pii_map_new();
    struct gw_buf sc = {0}, back = {0}, bytes = {0}, re = {0}, sc2 = {0};
    CHECK(m);
    long n = gw_pii_scrub(m, mask, text, len, &sc);
    CHECK(n == (long)found);
    size_t entries = gw_pii_map_size(m);
    CHECK(entries <= found);

    restore_pieces(m, sc.data ? sc.data : "", sc.len, sizes, nsizes, &back);
    CHECK(back.len == len && (len == 0 || memcmp(back.data, text, len) == 0));
    const uint8_t one = 1;
    restore_pieces(m, sc.data ? sc.data : "", sc.len, &one, 1, &bytes);
    CHECK(bytes.len == len && (len == 0 || memcmp(bytes.data, text, len) == 0));

    CHECK(gw_pii_rescrub(m, text, len, &re) == n);
    CHECK(re.len == sc.len && (sc.len == 0 || memcmp(re.data, sc.data, sc.len) == 0));
    CHECK(gw_pii_scrub(m, mask, text, len, &sc2) == n);
    CHECK(gw_pii_map_size(m) == entries);
    CHECK(sc2.len == sc.len && (sc.len == 0 || memcmp(sc2.data, sc.data, sc.len) == 0));
    filter_check(m, text, len, &sc, sizes, nsizes, data[0] & 0x80);

    gw_buf_free(&sc);
    gw_buf_free(&back);
    gw_buf_free(&bytes);
    gw_buf_free(&re);
    gw_buf_free(&sc2);
    gw_pii_map_free(m);
    free(text);
    return 0;
}
