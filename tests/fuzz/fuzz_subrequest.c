/* Fuzz target for what a sub-request reads from an upstream's answer
 * (gatewayd/subrequest.c: gw_subrequest_read) and the firewall's reading of
 * a safety model's text as a verdict (gw_firewall_parse_verdict). Byte 0
 * picks the api (even: chat, odd: embeddings) and, from its other bits, the
 * status (200, 400, 502 or 504); the rest is the answer body. Checks that
 * a result is either ok (status 200) with exactly one of text / vector
 * set (a vector of dim >= 1), or not ok with a NUL-terminated reason and
 * nothing allocated, the status kept either way; that the verdict is
 * -1, 0 or 1 and, for a text starting with "unsafe" or "safe" alone, the
 * expected one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall.h"
#include "subrequest.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_subrequest: check failed: %s (line %d)\n", #cond, __LINE__);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int statuses[] = {200, 400, 502, 504};
    enum gw_api api = (data[0] & 1) ? GW_API_EMBEDDINGS : GW_API_CHAT;
    int status = statuses[(data[0] >> 1) & 3];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct gw_subresult res;
    memset(&res, 0, sizeof res);
    char reason[200];
    memset(reason, 'x', sizeof reason);
    char *text = NULL;
    float *vec = NULL;
    gw_subrequest_read(api, status, body, len, &res, reason, sizeof reason, &text, &vec);
    CHECK(res.status == status);
    if (res.ok) {
        CHECK(status == 200);
        if (api == GW_API_CHAT) {
            CHECK(text && res.text == text && !vec && !res.vec);
            int v = gw_firewall_parse_verdict(text);
            CHECK(v >= -1 && v <= 1);
        } else {
            CHECK(vec && res.vec == vec && res.dim >= 1 && !text && !res.text);
        }
    } else {
        CHECK(!text && !vec && res.reason == reason);
        CHECK(memchr(reason, '\0', sizeof reason) != NULL);
    }
    free(text);
    free(vec);

    /* the verdict parser on the raw bytes as a string */
    char *s = malloc(len + 1);
    if (!s)
        return 0;
    memcpy(s, body, len);
    s[len] = '\0';
    int v = gw_firewall_parse_verdict(s);
    CHECK(v >= -1 && v <= 1);
    if (strcmp(s, "unsafe") == 0)
        CHECK(v == 1);
    if (strcmp(s, "safe") == 0)
        CHECK(v == 0);
    free(s);
    return 0;
}
