/* Unit tests of common/tokenizer.c: token ids equal the reference
 * tokenizer's (js-tiktoken) for every string of tests/tokenizer/corpus.jsonl
 * in both encodings, and decode back to the string; chat requests count as
 * tests/tokenizer/chat.json says and as OpenAI's cookbook documents; the
 * two byte-pair merge paths agree; invalid UTF-8 counts as its U+FFFD
 * replacement; long pieces stay fast; threads count concurrently; model
 * names map to encodings; the estimate rounds up.
 *
 * The corpus is made by tests/tokenizer/gen-corpus.mjs (node), and
 * committed; this test reads it from the work tree (GW_TOK_CORPUS_DIR
 * overrides tests/tokenizer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer-int.h"
#include "tokenizer.h"

static char *read_file(const char *name, size_t *len)
{
    const char *dir = getenv("GW_TOK_CORPUS_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/tokenizer", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "test_tokenizer: cannot open %s (run from the top of the tree)\n", path);
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                buf = NULL;
            }
            buf = p;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* The corpus, parsed once. */
struct sample {
    char *text;
    size_t len;
    uint32_t *ids[3]; /* by enum gw_tok_encoding */
    size_t nids[3];
};
static struct sample *samples;
static size_t nsamples;

static uint32_t *json_ids(const cJSON *a, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(a);
    uint32_t *ids = malloc((*n + 1) * sizeof *ids);
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a)
    {
        ids[i++] = (uint32_t)v->valuedouble;
    }
    return ids;
}

static int corpus_setup(void **state)
{
    size_t len;
    char *buf = read_file("corpus.jsonl", &len);
    if (!buf)
        return -1;
    size_t cap = 2048;
    samples = calloc(cap, sizeof *samples);
    for (char *line = buf; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (*line) {
            cJSON *j = cJSON_Parse(line);
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text");
            if (!cJSON_IsString(t)) {
                fprintf(stderr, "test_tokenizer: bad corpus line %zu\n", nsamples + 1);
                cJSON_Delete(j);
                free(buf);
                return -1;
            }
            if (nsamples == cap) {
                cap *= 2;
                samples = realloc(samples, cap * sizeof *samples);
            }
            struct sample *s = &samples[nsamples++];
            memset(s, 0, sizeof *s);
            s->len = strlen(t->valuestring);
            s->text = strdup(t->valuestring);
            s->ids[GW_TOK_CL100K_BASE] = json_ids(cJSON_GetObjectItemCaseSensitive(j, "cl100k"),
                                                  &s->nids[GW_TOK_CL100K_BASE]);
            s->ids[GW_TOK_O200K_BASE] =
                json_ids(cJSON_GetObjectItemCaseSensitive(j, "o200k"), &s->nids[GW_TOK_O200K_BASE]);
            cJSON_Delete(j);
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    free(buf);
    return 0;
}

static int corpus_teardown(void **state)
{
    for (size_t i = 0; i < nsamples; i++) {
        free(samples[i].text);
        free(samples[i].ids[1]);
        free(samples[i].ids[2]);
    }
    free(samples);
    return 0;
}

static void test_init(void **state)
{
    char err[256] = "";
    assert_int_equal(gw_tok_init(err, sizeof err), 0);
    assert_int_equal(gw_tok_init(err, sizeof err), 0); /* idempotent */
    assert_string_equal(gw_tok_data_source, "gpt-tokenizer@4.0.0");
    assert_int_equal(gw_tok_table_cl100k_base.ntokens, 100256);
    assert_int_equal(gw_tok_table_o200k_base.ntokens, 199998);
}

/* Every string, both encodings: the ids, the count and the round trip. */
static void test_corpus_exact(void **state)
{
    assert_true(nsamples >= 1000);
    size_t mismatches = 0, tokens = 0, bytes = 0;
    for (size_t i = 0; i < nsamples; i++) {
        const struct sample *s = &samples[i];
        bytes += s->len;
        for (int e = GW_TOK_CL100K_BASE; e <= GW_TOK_O200K_BASE; e++) {
            uint32_t *ids = NULL;
            long n = gw_tok_encode(e, s->text, s->len, &ids);
            int same = n >= 0 && (size_t)n == s->nids[e] &&
                       (n == 0 || memcmp(ids, s->ids[e], (size_t)n * sizeof *ids) == 0);
            if (!same) {
                if (mismatches < 10) {
                    fprintf(stderr, "mismatch: line %zu, %s: %ld ids, expected %zu: %.80s\n", i + 1,
                            gw_tok_encoding_name(e), n, s->nids[e], s->text);
                }
                mismatches++;
            }
            assert_int_equal(gw_tok_count(e, s->text, s->len), (long)s->nids[e]);
            size_t dlen = 0;
            char *back = gw_tok_decode(e, ids, n < 0 ? 0 : (size_t)n, &dlen);
            assert_non_null(back);
            assert_int_equal(dlen, s->len);
            assert_memory_equal(back, s->text, s->len);
            free(back);
            free(ids);
            tokens += s->nids[e];
        }
    }
    printf("tokenizer: %zu strings (%zu bytes) x 2 encodings, %zu reference ids, %zu mismatches\n",
           nsamples, bytes, tokens, mismatches);
    assert_int_equal(mismatches, 0);
}

/* The short-piece loop and the heap merge give the same tokens, on random
 * pieces of the lengths both handle (bytes from a small alphabet, so that
 * many merges happen, and arbitrary bytes). */
static void test_merge_paths_agree(void **state)
{
    static const char alpha[] = "aaabbcde  \n\xe4\xb8\x80";
    unsigned seed = 12345;
    uint32_t a[128], b[128];
    for (int iter = 0; iter < 20000; iter++) {
        unsigned char piece[32];
        seed = seed * 1103515245u + 12345u;
        size_t n = 2 + (seed >> 16) % 31;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            piece[i] = iter % 4 == 3 ? (unsigned char)(seed >> 16)
                                     : (unsigned char)alpha[(seed >> 16) % (sizeof alpha - 1)];
        }
        for (int e = GW_TOK_CL100K_BASE; e <= GW_TOK_O200K_BASE; e++) {
            long na = gw_tok_bpe_piece(e, piece, n, 0, a, 128);
            long nb = gw_tok_bpe_piece(e, piece, n, 1, b, 128);
            assert_true(na > 0);
            assert_int_equal(na, nb);
            assert_memory_equal(a, b, (size_t)na * sizeof a[0]);
        }
    }
}

static long count_str(enum gw_tok_encoding e, const char *s)
{
    return gw_tok_count(e, s, strlen(s));
}

/* Invalid UTF-8 counts as its replacement by U+FFFD (maximal subparts). */
static void test_invalid_utf8(void **state)
{
    static const struct {
        const char *in, *as;
    } cases[] = {
        {"\xff", "\xef\xbf\xbd"},
        {"a\x80z", "a\xef\xbf\xbdz"},
        {"\xc3", "\xef\xbf\xbd"},                                 /* truncated */
        {"\xe4\xb8", "\xef\xbf\xbd"},                             /* truncated 3-byte: one U+FFFD */
        {"\xe4\xb8x", "\xef\xbf\xbdx"},                           /* bad continuation */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong */
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"hello \xf0\x9f\x98 world", "hello \xef\xbf\xbd world"},
        {"caf\xe9 cr\xe8me", "caf\xef\xbf\xbd cr\xef\xbf\xbdme"}, /* Latin-1 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int e = GW_TOK_CL100K_BASE; e <= GW_TOK_O200K_BASE; e++) {
            uint32_t *x = NULL, *y = NULL;
            long nx = gw_tok_encode(e, cases[i].in, strlen(cases[i].in), &x);
            long ny = gw_tok_encode(e, cases[i].as, strlen(cases[i].as), &y);
            assert_true(nx > 0);
            assert_int_equal(nx, ny);
            assert_memory_equal(x, y, (size_t)nx * sizeof *x);
            free(x);
            free(y);
        }
    }
    /* NUL bytes are ordinary characters */
    assert_int_equal(gw_tok_count(GW_TOK_CL100K_BASE, "a\0b", 3), gw_tok_count(GW_TOK_CL100K_BASE,
                                                                               "a\x01"
                                                                               "b",
                                                                               3));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Pieces of a megabyte (one word, one run of spaces) cost about as much as
 * a megabyte of prose, not quadratic time; the counts decode back. */
static void test_long_pieces(void **state)
{
    size_t n = 1 << 20;
    char *buf = malloc(n);
    static const char *fill[] = {"a", " ", "7", "xyz", "\xe4\xb8\x80", "!?", "\n"};
    for (size_t f = 0; f < sizeof fill / sizeof fill[0]; f++) {
        size_t k = strlen(fill[f]);
        for (size_t i = 0; i < n; i++)
            buf[i] = fill[f][i % k];
        size_t len = n - n % k;
        for (int e = GW_TOK_CL100K_BASE; e <= GW_TOK_O200K_BASE; e++) {
            double t0 = now_s();
            uint32_t *ids = NULL;
            long c = gw_tok_encode(e, buf, len, &ids);
            double dt = now_s() - t0;
            assert_true(c > 0);
            assert_int_equal(gw_tok_count(e, buf, len), c);
            size_t dlen;
            char *back = gw_tok_decode(e, ids, (size_t)c, &dlen);
            assert_int_equal(dlen, len);
            assert_memory_equal(back, buf, len);
            free(back);
            free(ids);
            /* generous: sanitizers and a busy machine */
            assert_true(dt < 20.0);
        }
    }
    free(buf);
}

struct thread_arg {
    size_t mismatches;
};

static void *count_thread(void *p)
{
    struct thread_arg *a = p;
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < nsamples; i++)
            for (int e = GW_TOK_CL100K_BASE; e <= GW_TOK_O200K_BASE; e++)
                if (gw_tok_count(e, samples[i].text, samples[i].len) != (long)samples[i].nids[e])
                    a->mismatches++;
    return NULL;
}

static void test_threads(void **state)
{
    enum { N = 4 };
    pthread_t th[N];
    struct thread_arg args[N];
    memset(args, 0, sizeof args);
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, count_thread, &args[i]), 0);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].mismatches, 0);
    }
}

static void test_models(void **state)
{
    static const struct {
        const char *model;
        enum gw_tok_encoding e;
    } cases[] = {
        {"gpt-4o", GW_TOK_O200K_BASE},
        {"gpt-4o-mini-2024-07-18", GW_TOK_O200K_BASE},
        {"gpt-4.1-nano", GW_TOK_O200K_BASE},
        {"gpt-5", GW_TOK_O200K_BASE},
        {"gpt-5-mini", GW_TOK_O200K_BASE},
        {"o1", GW_TOK_O200K_BASE},
        {"o1-preview", GW_TOK_O200K_BASE},
        {"o3-mini", GW_TOK_O200K_BASE},
        {"o4-mini", GW_TOK_O200K_BASE},
        {"chatgpt-4o-latest", GW_TOK_O200K_BASE},
        {"ft:gpt-4o-mini-2024-07-18:org::abc", GW_TOK_O200K_BASE},
        {"openai/gpt-4o", GW_TOK_O200K_BASE},
        {"GPT-4O", GW_TOK_O200K_BASE},
        {"gpt-4", GW_TOK_CL100K_BASE},
        {"gpt-4-0613", GW_TOK_CL100K_BASE},
        {"gpt-4-turbo", GW_TOK_CL100K_BASE},
        {"gpt-4-32k", GW_TOK_CL100K_BASE},
        {"gpt-3.5-turbo", GW_TOK_CL100K_BASE},
        {"gpt-35-turbo", GW_TOK_CL100K_BASE},
        {"text-embedding-3-small", GW_TOK_CL100K_BASE},
        {"text-embedding-ada-002", GW_TOK_CL100K_BASE},
        {"claude-3-5-sonnet-latest", GW_TOK_ESTIMATE},
        {"gemini-2.0-flash", GW_TOK_ESTIMATE},
        {"llama3", GW_TOK_ESTIMATE},
        {"o100", GW_TOK_ESTIMATE},
        {"gpt-40", GW_TOK_ESTIMATE},
        {"davinci-002", GW_TOK_ESTIMATE},
        {"", GW_TOK_ESTIMATE},
        {NULL, GW_TOK_ESTIMATE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (gw_tok_encoding_for_model(cases[i].model) != cases[i].e)
            fail_msg("model %s: got %s", cases[i].model ? cases[i].model : "(null)",
                     gw_tok_encoding_name(gw_tok_encoding_for_model(cases[i].model)));
    }
    assert_string_equal(gw_tok_encoding_name(GW_TOK_O200K_BASE), "o200k_base");
}

static void test_estimate(void **state)
{
    assert_int_equal(count_str(GW_TOK_ESTIMATE, ""), 0);
    assert_int_equal(count_str(GW_TOK_ESTIMATE, "a"), 1);
    assert_int_equal(count_str(GW_TOK_ESTIMATE, "abcd"), 1);
    assert_int_equal(count_str(GW_TOK_ESTIMATE, "abcde"), 2);
    uint32_t *ids = (uint32_t *)1;
    assert_int_equal(gw_tok_encode(GW_TOK_ESTIMATE, "abc", 3, &ids), -1);
    assert_null(ids);
    /* a chat for an unknown model: 3 + (3 + ceil(4/4) + ceil(5/4)) = 9 */
    cJSON *m = cJSON_Parse("[{\"role\":\"user\",\"content\":\"hello\"}]");
    assert_int_equal(gw_tok_count_chat("claude-sonnet-4", m, NULL), 9);
    cJSON_Delete(m);
}

/* tests/tokenizer/chat.json: chat requests with the counts js-tiktoken
 * gives under OpenAI's rule. */
static void test_chat_reference(void **state)
{
    char *buf = read_file("chat.json", NULL);
    assert_non_null(buf);
    cJSON *all = cJSON_Parse(buf);
    free(buf);
    assert_true(cJSON_IsArray(all));
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, all)
    {
        const char *model = cJSON_GetObjectItemCaseSensitive(c, "model")->valuestring;
        long want = (long)cJSON_GetObjectItemCaseSensitive(c, "expected")->valuedouble;
        long got = gw_tok_count_chat(model, cJSON_GetObjectItemCaseSensitive(c, "messages"), NULL);
        if (got != want)
            fail_msg("chat.json #%d (%s): %ld tokens, expected %ld", n, model, got, want);
        n++;
    }
    assert_true(n >= 10);
    cJSON_Delete(all);
}

/* The numbers OpenAI's cookbook ("How to count tokens with tiktoken")
 * reports from the API itself for its example requests. */
static void test_chat_cookbook(void **state)
{
    cJSON *messages = cJSON_Parse(
        "[{\"role\":\"system\",\"content\":\"You are a helpful, pattern-following assistant that "
        "translates corporate jargon into plain English.\"},"
        "{\"role\":\"system\",\"name\":\"example_user\",\"content\":\"New synergies will help "
        "drive top-line growth.\"},"
        "{\"role\":\"system\",\"name\":\"example_assistant\",\"content\":\"Things working well "
        "together will increase revenue.\"},"
        "{\"role\":\"system\",\"name\":\"example_user\",\"content\":\"Let's circle back when we "
        "have more bandwidth to touch base on opportunities for increased leverage.\"},"
        "{\"role\":\"system\",\"name\":\"example_assistant\",\"content\":\"Let's talk later when "
        "we're less busy about how to do better.\"},"
        "{\"role\":\"user\",\"content\":\"This late pivot means we don't have time to boil the "
        "ocean for the client deliverable.\"}]");
    assert_non_null(messages);
    assert_int_equal(gw_tok_count_chat("gpt-4-0613", messages, NULL), 129);
    assert_int_equal(gw_tok_count_chat("gpt-3.5-turbo-0613", messages, NULL), 129);
    assert_int_equal(gw_tok_count_chat("gpt-4o", messages, NULL), 124);
    assert_int_equal(gw_tok_count_chat("gpt-4o-mini", messages, NULL), 124);
    cJSON_Delete(messages);

    cJSON *tools = cJSON_Parse(
        "[{\"type\":\"function\",\"function\":{\"name\":\"get_current_weather\","
        "\"description\":\"Get the current weather in a given location\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{"
        "\"location\":{\"type\":\"string\",\"description\":\"The city and state, e.g. San "
        "Francisco, CA\"},"
        "\"unit\":{\"type\":\"string\",\"description\":\"The unit of temperature to return\","
        "\"enum\":[\"celsius\",\"fahrenheit\"]}},\"required\":[\"location\"]}}}]");
    messages = cJSON_Parse("[{\"role\":\"system\",\"content\":\"You are a helpful assistant that "
                           "can answer to questions about the weather.\"},"
                           "{\"role\":\"user\",\"content\":\"What's the weather like in San "
                           "Francisco?\"}]");
    assert_non_null(tools);
    assert_non_null(messages);
    assert_int_equal(gw_tok_count_chat("gpt-4", messages, tools), 105);
    assert_int_equal(gw_tok_count_chat("gpt-3.5-turbo", messages, tools), 105);
    assert_int_equal(gw_tok_count_chat("gpt-4o", messages, tools), 101);
    assert_int_equal(gw_tok_count_chat("gpt-4o-mini", messages, tools), 101);
    cJSON_Delete(tools);
    cJSON_Delete(messages);
}

/* What is not text is estimated, as docs/tokenizer.md says. */
static void test_chat_estimates(void **state)
{
    cJSON *m =
        cJSON_Parse("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"},"
                    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\","
                    "\"detail\":\"low\"}},"
                    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\"}}]},"
                    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
                    "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]");
    assert_non_null(m);
    long user = 3 + 1 /* user */ + 1 /* hi */ + 85 + 765;
    long assistant = 3 + 1 /* assistant */ + 3 + count_str(GW_TOK_O200K_BASE, "f") +
                     count_str(GW_TOK_O200K_BASE, "{}");
    assert_int_equal(gw_tok_count_chat("gpt-4o", m, NULL), 3 + user + assistant);
    cJSON_Delete(m);
    /* not an array */
    cJSON *o = cJSON_Parse("{}");
    assert_int_equal(gw_tok_count_chat("gpt-4o", o, NULL), -1);
    assert_int_equal(gw_tok_count_chat("gpt-4o", NULL, NULL), -1);
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_corpus_exact),
        cmocka_unit_test(test_merge_paths_agree),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_long_pieces),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_estimate),
        cmocka_unit_test(test_chat_reference),
        cmocka_unit_test(test_chat_cookbook),
        cmocka_unit_test(test_chat_estimates),
    };
    return cmocka_run_group_tests(tests, corpus_setup, corpus_teardown);
}
