/* libFuzzer target for the RAG chunker (common/chunker.c). Input: byte 0
 * and 1 give max_chars (16 + their value % 2000), byte 2 the overlap (as a
 * share of half of max_chars) and, in its top bit, markdown; the rest is the
 * document. Checks what chunker.h promises: every chunk is non-empty, at
 * most max_chars long, trimmed, starts after the previous one, and (for
 * well-formed UTF-8) on a character; every non-blank byte lies in a chunk;
 * a heading lies in the text, on a line that starts at or before its chunk;
 * without overlap no byte is in two chunks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* 1 when t[0..n) is well-formed UTF-8 (lead bytes followed by the right
 * number of continuation bytes; overlongs and surrogates not checked) */
static int utf8_ok(const unsigned char *t, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = t[i] < 0x80             ? 0
                   : (t[i] & 0xE0) == 0xC0 ? 1
                   : (t[i] & 0xF0) == 0xE0 ? 2
                   : (t[i] & 0xF8) == 0xF0 ? 3
                                           : 9;
        if (k == 9 || i + k >= n + (k ? 0 : 1))
            return 0;
        for (size_t j = 1; j <= k; j++)
            if ((t[i + j] & 0xC0) != 0x80)
                return 0;
        i += k + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    struct gw_chunk_opts o;
    o.max_chars = 16 + (((size_t)data[0] << 8) | data[1]) % 2000;
    o.overlap_chars = (size_t)(data[2] & 0x7f) * (o.max_chars / 2) / 127;
    o.markdown = data[2] >> 7;
    const char *t = (const char *)data + 3;
    size_t len = size - 3;
    struct gw_chunk *c = NULL;
    long n = gw_chunk_split(t, len, &o, &c);
    if (n < 0)
        abort();
    int valid = utf8_ok((const unsigned char *)t, len);
    size_t covered = 0;
    for (long i = 0; i < n; i++) {
        if (c[i].len == 0 || c[i].len > o.max_chars || c[i].off + c[i].len > len)
            abort();
        if (blank(t[c[i].off]) || blank(t[c[i].off + c[i].len - 1]))
            abort();
        if (valid && ((unsigned char)t[c[i].off] & 0xC0) == 0x80)
            abort();
        if (i && c[i].off <= c[i - 1].off)
            abort();
        if (!o.overlap_chars && i && c[i].off < c[i - 1].off + c[i - 1].len)
            abort();
        if (c[i].head_len) {
            /* the heading's line starts at or before the chunk */
            size_t ls = c[i].head_off;
            while (ls > 0 && t[ls - 1] != '\n')
                ls--;
            if (c[i].head_off + c[i].head_len > len || ls > c[i].off)
                abort();
        }
        for (size_t k = covered; k < c[i].off; k++)
            if (!blank(t[k]))
                abort();
        if (c[i].off + c[i].len > covered)
            covered = c[i].off + c[i].len;
    }
    for (size_t k = covered; k < len; k++)
        if (!blank(t[k]))
            abort();
    free(c);
    return 0;
}
