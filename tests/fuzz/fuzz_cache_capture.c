/* libFuzzer target for gatewayd/cache_capture.c, the parser that reads an
 * answer (upstream bytes, relayed or translated) back into the cache's
 * neutral form, and for cache_replay.c, which writes it out again.
 * Input: byte 0 picks the format (bit 0: Anthropic's, else OpenAI's; bit 1:
 * a stream of events, else one JSON object), byte 1 is N, then N % 8 + 1
 * piece sizes, then the answer. Checks: the answer fed whole and in those
 * pieces (cycled; 0 an empty feed) gives the same verdict and the same
 * answer; an answer that is kept has its promised shape (a finish reason
 * of stop, length or tool_calls; every tool call named; content_len the
 * content's length); and replayed into each front door, streamed and not,
 * it is read back to the same text and tool calls (and through OpenAI's
 * format, the same arguments, finish reason and token counts). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cache.h"
#include "request.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static int run(int anthropic, int sse, const char *p, size_t n, const uint8_t *sizes, size_t nsizes,
               struct gw_arena *a, struct gw_cache_answer *out)
{
    struct gw_cache_capture *c = gw_cache_capture_new(anthropic, sse);
    CHECK(c);
    if (!sizes) {
        gw_cache_capture_feed(c, p, n);
    } else {
        size_t at = 0, k = 0, empties = 0;
        while (at < n) {
            size_t piece = sizes[k++ % nsizes];
            if (piece == 0 && ++empties > nsizes)
                piece = 1;
            if (piece)
                empties = 0;
            if (piece > n - at)
                piece = n - at;
            gw_cache_capture_feed(c, p + at, piece);
            at += piece;
        }
    }
    const char *why = NULL;
    int rc = gw_cache_capture_end(c, a, out, &why);
    CHECK(rc == 0 ? why == NULL : why != NULL);
    gw_cache_capture_free(c);
    return rc;
}

static int str_eq(const char *x, const char *y)
{
    return (!x && !y) || (x && y && strcmp(x, y) == 0);
}

static void same_answer(const struct gw_cache_answer *x, const struct gw_cache_answer *y)
{
    CHECK(x->content_len == y->content_len);
    CHECK(memcmp(x->content, y->content, x->content_len) == 0);
    CHECK(str_eq(x->finish, y->finish) && str_eq(x->model, y->model));
    CHECK(x->prompt_tokens == y->prompt_tokens && x->completion_tokens == y->completion_tokens);
    CHECK(x->n_tools == y->n_tools);
    for (size_t i = 0; i < x->n_tools; i++)
        CHECK(str_eq(x->tools[i].id, y->tools[i].id) &&
              str_eq(x->tools[i].name, y->tools[i].name) &&
              str_eq(x->tools[i].args, y->tools[i].args));
}

/* Replays a into a request of the given door and mode and reads it back. */
static void round_trip(const struct gw_cache_answer *a, int anthropic, int stream)
{
    struct gw_request r;
    memset(&r, 0, sizeof r);
    r.arena = gw_arena_new(4096);
    CHECK(r.arena);
    snprintf(r.id, sizeof r.id, "req_00000000000000000000fuzz");
    r.api = anthropic ? GW_API_MESSAGES : GW_API_CHAT;
    r.stream = stream;
    r.client_wants_usage = 1;
    r.model_name = "fuzz-model";
    r.input_tokens_known = 1;
    struct gw_buf out = {0};
    CHECK(gw_cache_replay(&r, a, &out) == 0);
    struct gw_cache_answer back;
    CHECK(run(anthropic, stream, out.data ? out.data : "", out.len, NULL, 0, r.arena, &back) == 0);
    CHECK(back.content_len == a->content_len &&
          memcmp(back.content, a->content, a->content_len) == 0);
    CHECK(back.n_tools == a->n_tools);
    for (size_t i = 0; i < a->n_tools; i++) {
        CHECK(str_eq(back.tools[i].name, a->tools[i].name));
        if (a->tools[i].id && *a->tools[i].id) /* else the writer made one */
            CHECK(str_eq(back.tools[i].id, a->tools[i].id));
        if (!anthropic) /* Anthropic's format carries arguments as an object */
            CHECK(str_eq(back.tools[i].args, a->tools[i].args));
    }
    if (!anthropic) {
        CHECK(str_eq(back.finish, a->finish));
        CHECK(back.prompt_tokens == a->prompt_tokens);
        CHECK(back.completion_tokens == a->completion_tokens);
    }
    gw_buf_free(&out);
    gw_arena_destroy(r.arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int anthropic = data[0] & 1, sse = (data[0] >> 1) & 1;
    size_t nsizes = data[1] % 8 + 1;
    if (size < 2 + nsizes)
        return 0;
    const uint8_t *sizes = data + 2;
    size_t n = size - 2 - nsizes;
    char *text = malloc(n ? n : 1); /* exact size: reads past the end are caught */
    if (!text)
        return 0;
    memcpy(text, data + 2 + nsizes, n);

    struct gw_arena *a = gw_arena_new(4096);
    struct gw_cache_answer whole, pieces;
    int rc = run(anthropic, sse, text, n, NULL, 0, a, &whole);
    CHECK(run(anthropic, sse, text, n, sizes, nsizes, a, &pieces) == rc);
    if (rc == 0) {
        same_answer(&whole, &pieces);
        CHECK(whole.content && strlen(whole.content) == whole.content_len);
        CHECK(str_eq(whole.finish, "stop") || str_eq(whole.finish, "length") ||
              str_eq(whole.finish, "tool_calls"));
        for (size_t i = 0; i < whole.n_tools; i++)
            CHECK(whole.tools[i].name && *whole.tools[i].name && whole.tools[i].args);
        for (int door = 0; door < 2; door++)
            for (int stream = 0; stream < 2; stream++)
                round_trip(&whole, door, stream);
    }
    gw_arena_destroy(a);
    free(text);
    return 0;
}
