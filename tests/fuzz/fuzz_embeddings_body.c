/* libFuzzer target for the /v1/embeddings body: the parse_embeddings stage
 * (gatewayd/stages/parse_embeddings.c), then, for a body it accepts, the
 * input's token count (gatewayd/tokens.c), the decoding of its token arrays
 * (what the content policy scans) and the echo provider's answer
 * (gatewayd/providers/echo.c). Each input is the body of a fresh request
 * made with gw_request_new() under the embedded default config; the model
 * name decides the encoding (e.g. "gpt-4o" counts with o200k_base).
 *
 * What must hold: the stage either answers 400 with an OpenAI-shaped error
 * body that is valid JSON, or accepts a body whose input has the documented
 * shape; a token array counts as its length and every non-empty string as
 * at least one token; echo answers valid JSON with one embedding per input
 * item, each of `dimensions` (default 8) floats or base64 of as many
 * float32, and usage equal to the count (or a 400 naming `dimensions`). */
#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "providers/provider.h"
#include "fuzz_request.h"
#include "request.h"
#include "tokens.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_install_default_config("fuzz_embeddings_body");
    return 0;
}

static int is_token_id(const cJSON *t)
{
    return cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble < 2147483648.0 &&
           t->valuedouble == (double)(long long)t->valuedouble;
}

static int is_token_array(const cJSON *a)
{
    if (!cJSON_IsArray(a) || !a->child)
        return 0;
    for (const cJSON *t = a->child; t; t = t->next)
        if (!is_token_id(t))
            return 0;
    return 1;
}

/* The accepted input's items (1 for a string or a single token array), and
 * checks its shape; *min_tokens gets the least count it may have, *exact 1
 * when that count is exact (token arrays only). */
static int check_input(const cJSON *in, long long *min_tokens, int *exact)
{
    if (cJSON_IsString(in)) {
        CHECK(*in->valuestring);
        *min_tokens = 1;
        *exact = 0;
        return 1;
    }
    CHECK(cJSON_IsArray(in) && in->child);
    int n = cJSON_GetArraySize(in);
    CHECK(n <= 2048);
    if (cJSON_IsNumber(in->child)) {
        CHECK(is_token_array(in));
        *min_tokens = n;
        *exact = 1;
        return 1;
    }
    *min_tokens = 0;
    *exact = 1;
    for (const cJSON *it = in->child; it; it = it->next) {
        if (cJSON_IsString(in->child)) {
            CHECK(cJSON_IsString(it) && *it->valuestring);
            *min_tokens += 1;
            *exact = 0;
        } else {
            CHECK(is_token_array(it));
            *min_tokens += cJSON_GetArraySize(it);
        }
    }
    return n;
}

static void check_echo(struct gw_request *r, int items, long long tokens)
{
    const cJSON *dv = cJSON_GetObjectItemCaseSensitive(r->json, "dimensions");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(r->json, "encoding_format");
    double dims = cJSON_IsNumber(dv) ? dv->valuedouble : 8;
    if (dims <= 3072 && dims * items > 65536)
        return; /* a valid but slow answer: not what this target is after */
    gw_buf_reset(&r->out);
    r->status = 0;
    CHECK(gw_provider_echo.embeddings(r) == GW_STAGE_RESPOND);
    if (dims > 3072) {
        fuzz_check_openai_error(r, 400);
        return;
    }
    CHECK(r->status == 200 && r->prompt_tokens == tokens);
    int b64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;
    cJSON *j = cJSON_ParseWithLength(r->out.data, r->out.len);
    CHECK(cJSON_IsObject(j));
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    CHECK(cJSON_IsArray(data) && cJSON_GetArraySize(data) == items);
    int i = 0;
    unsigned char *bin = malloc((size_t)dims * 4 + 4);
    CHECK(bin != NULL);
    for (const cJSON *d = data->child; d; d = d->next, i++) {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(d, "index");
        CHECK(cJSON_IsNumber(idx) && idx->valueint == i);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "embedding");
        if (b64) {
            size_t len = 0;
            CHECK(cJSON_IsString(e));
            CHECK(sodium_base642bin(bin, (size_t)dims * 4 + 4, e->valuestring,
                                    strlen(e->valuestring), NULL, &len, NULL,
                                    sodium_base64_VARIANT_ORIGINAL) == 0);
            CHECK(len == (size_t)dims * 4);
        } else {
            CHECK(cJSON_IsArray(e) && cJSON_GetArraySize(e) == (int)dims);
            for (const cJSON *x = e->child; x; x = x->next)
                CHECK(cJSON_IsNumber(x) && x->valuedouble >= -1.0 && x->valuedouble <= 1.0);
        }
    }
    free(bin);
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
    CHECK(cJSON_IsNumber(pt) && (long long)pt->valuedouble == tokens);
    cJSON_Delete(j);
}

static void check_accepted(struct gw_request *r)
{
    CHECK(r->status == 0);
    CHECK(cJSON_IsObject(r->json));
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->json, "model");
    CHECK(cJSON_IsString(model) && r->model_name && strcmp(model->valuestring, r->model_name) == 0);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(r->json, "input");
    long long min_tokens;
    int exact;
    int items = check_input(in, &min_tokens, &exact);
    long long tokens = gw_tokens_input(r);
    CHECK(exact ? tokens == min_tokens : tokens >= min_tokens);
    CHECK(gw_tokens_answer_budget(r) == 0);
    /* token arrays decode (or not) without harm, as the content policy does */
    const cJSON *first = cJSON_IsArray(in) && cJSON_IsNumber(in->child) ? in : NULL;
    for (const cJSON *it = first ? first : (cJSON_IsArray(in) ? in->child : NULL); it;
         it = first ? NULL : it->next) {
        if (!cJSON_IsArray(it))
            continue;
        size_t len = 0;
        char *text = gw_tokens_decode(r, it, &len);
        CHECK(!text || strlen(text) <= len);
        free(text);
    }
    check_echo(r, items, tokens);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_request *r = fuzz_request(GW_API_EMBEDDINGS, "/v1/embeddings", data, size);
    enum gw_stage_rc rc = gw_stage_parse_embeddings.run(r);
    if (rc == GW_STAGE_RESPOND)
        fuzz_check_openai_error(r, 400);
    else if (rc == GW_STAGE_CONTINUE)
        check_accepted(r);
    else
        abort();
    gw_request_release(r);
    return 0;
}
