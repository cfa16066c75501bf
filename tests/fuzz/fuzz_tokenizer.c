/* Fuzz target for common/tokenizer.c: any bytes, valid UTF-8 or not, in
 * both encodings. Checks that counting never fails and equals the number of
 * ids; that decoding the ids gives back the input when it is valid UTF-8,
 * and otherwise valid UTF-8 that encodes to the same ids (invalid sequences
 * count as U+FFFD); that every id is in range; that the two merge paths agree
 * on the input's first 32 bytes as one piece; and, when the input parses as
 * JSON, that counting it as a chat request's messages and tools does not
 * crash. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer-int.h"
#include "tokenizer.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_tokenizer: check failed: %s (line %d)\n", #cond, __LINE__);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* An independent UTF-8 check (RFC 3629: no overlongs, no surrogates, at
 * most U+10FFFF). */
static int valid_utf8(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + k > n)
            return 0;
        for (size_t j = 1; j < k; j++) {
            if ((p[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k;
    }
    return 1;
}

static void check_encoding(enum gw_tok_encoding e, const uint8_t *data, size_t size, int valid)
{
    uint32_t *ids = NULL;
    long n = gw_tok_encode(e, (const char *)data, size, &ids);
    CHECK(n >= 0);
    CHECK(gw_tok_count(e, (const char *)data, size) == n);
    uint32_t ntok = e == GW_TOK_CL100K_BASE ? gw_tok_table_cl100k_base.ntokens
                                            : gw_tok_table_o200k_base.ntokens;
    for (long i = 0; i < n; i++)
        CHECK(ids[i] < ntok);
    size_t len = 0;
    char *back = gw_tok_decode(e, ids, (size_t)n, &len);
    CHECK(back != NULL);
    if (valid) {
        CHECK(len == size && memcmp(back, data, size) == 0);
    } else {
        /* the input with U+FFFD for each invalid sequence: valid, at least
         * as long as the input, and a fixed point of encode */
        CHECK(valid_utf8((const unsigned char *)back, len));
        CHECK(len >= size);
        uint32_t *again = NULL;
        long m = gw_tok_encode(e, back, len, &again);
        CHECK(m == n && (n == 0 || memcmp(again, ids, (size_t)n * sizeof *ids) == 0));
        free(again);
    }
    free(back);
    free(ids);

    size_t k = size < 32 ? size : 32;
    if (k >= 2) {
        uint32_t a[32], b[32];
        long na = gw_tok_bpe_piece(e, data, k, 0, a, 32);
        long nb = gw_tok_bpe_piece(e, data, k, 1, b, 32);
        CHECK(na > 0 && na == nb && memcmp(a, b, (size_t)na * sizeof a[0]) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int valid = valid_utf8(data, size);
    check_encoding(GW_TOK_CL100K_BASE, data, size, valid);
    check_encoding(GW_TOK_O200K_BASE, data, size, valid);
    CHECK(gw_tok_count(GW_TOK_ESTIMATE, (const char *)data, size) == (long)((size + 3) / 4));

    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (j) {
        const cJSON *messages =
            cJSON_IsArray(j) ? j : cJSON_GetObjectItemCaseSensitive(j, "messages");
        const cJSON *tools = cJSON_GetObjectItemCaseSensitive(j, "tools");
        static const char *const models[] = {"gpt-4o", "gpt-4", "claude-3-haiku"};
        for (size_t i = 0; i < 3; i++) {
            long n = gw_tok_count_chat(models[i], messages, tools);
            CHECK(cJSON_IsArray(messages) ? n >= 3 : n == -1);
        }
        cJSON_Delete(j);
    }
    return 0;
}
