/* libFuzzer target for gatewayd/received.c, the reader of what a broken
 * stream delivered. Input: byte 0 (bit 0: Anthropic events, else OpenAI
 * chunks; the rest: N), then N % 8 + 1 piece sizes, then the stream. The
 * stream is read whole and in pieces of those sizes (cycled, 0 meaning an
 * empty feed then one byte). Checks: both readings give the same text, and
 * the text is never longer than the stream (it is made of parts of its JSON
 * strings, which decode to at most their escaped length). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "received.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int anthropic = data[0] & 1;
    size_t np = (size_t)(data[0] >> 1) % 8 + 1;
    if (size < 1 + np)
        return 0;
    const uint8_t *sizes = data + 1;
    const char *s = (const char *)data + 1 + np;
    size_t n = size - 1 - np;

    struct gw_received *whole = gw_received_new(anthropic);
    struct gw_received *cut = gw_received_new(anthropic);
    if (!whole || !cut) {
        gw_received_free(whole);
        gw_received_free(cut);
        return 0;
    }
    int rc_whole = gw_received_feed(whole, s, n);
    int rc_cut = 0;
    for (size_t off = 0, i = 0; off < n && rc_cut == 0; i++) {
        size_t k = sizes[i % np];
        if (k == 0) { /* an empty feed, then one byte: the loop always advances */
            rc_cut = gw_received_feed(cut, s + off, 0);
            k = 1;
        }
        if (k > n - off)
            k = n - off;
        rc_cut = gw_received_feed(cut, s + off, k);
        off += k;
    }
    const struct gw_buf *a = gw_received_text(whole), *b = gw_received_text(cut);
    if (rc_whole == 0 && rc_cut == 0) {
        CHECK(a->len == b->len);
        CHECK(a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
    }
    CHECK(a->len <= n && b->len <= n);
    gw_received_free(whole);
    gw_received_free(cut);
    return 0;
}
