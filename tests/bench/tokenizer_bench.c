/* Tokenizer throughput on one core: MB/s of gw_tok_count for cl100k_base and
 * o200k_base over a few MB of mixed text (English prose, source code, JSON,
 * and other scripts with emoji), counted in 4 KiB requests as the gateway
 * does, and as one text. `make bench-tokenizer`, or
 *
 *   build/tokenizer_bench [FILE]     count FILE instead of the built-in mix
 *
 * Time is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), best of 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "tokenizer.h"

static unsigned long long seed = 0x2545F4914F6CDD1Dull;
static unsigned rnd(unsigned n)
{
    seed ^= seed >> 12;
    seed ^= seed << 25;
    seed ^= seed >> 27;
    return (unsigned)((seed * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

static const char *const words[] = {
    "the",     "of",       "and",        "to",      "in",        "is",       "that",
    "for",     "it",       "as",         "was",     "with",      "be",       "by",
    "on",      "not",      "he",         "this",    "are",       "or",       "his",
    "from",    "at",       "which",      "but",     "have",      "an",       "had",
    "they",    "you",      "were",       "their",   "one",       "all",      "we",
    "can",     "her",      "has",        "there",   "been",      "if",       "more",
    "when",    "will",     "would",      "who",     "so",        "no",       "request",
    "gateway", "response", "latency",    "budget",  "tokens",    "model",    "server",
    "people",  "language", "government", "history", "important", "however",  "children",
    "system",  "because",  "different",  "example", "question",  "business", "information",
    "don't",   "it's",     "we'll",      "they're", "I've",      "2024",     "42",
    "3.14",    "1,000",    "New",        "York",    "OpenAI",    "Monday",   "API",
};

static void prose(struct gw_buf *b, size_t bytes)
{
    size_t end = b->len + bytes;
    int sentence = 0;
    while (b->len < end) {
        const char *w = words[rnd(sizeof words / sizeof words[0])];
        if (sentence == 0)
            gw_buf_printf(b, "%c%s", w[0] >= 'a' && w[0] <= 'z' ? w[0] - 32 : w[0], w + 1);
        else
            gw_buf_puts(b, w);
        sentence++;
        if (sentence > 6 && rnd(8) == 0) {
            gw_buf_puts(b, rnd(6) ? ". " : "?\n\n");
            sentence = 0;
        } else {
            gw_buf_puts(b, rnd(12) ? " " : ", ");
        }
    }
}

static void code(struct gw_buf *b, size_t bytes)
{
    static const char *const lines[] = {
        "    for (size_t i = 0; i < n; i++) {\n",
        "        if (buf[i] == '\\n')\n            lines++;\n",
        "    }\n",
        "def handle(request, *args, **kwargs):\n",
        "    return JsonResponse({\"status\": \"ok\", \"count\": len(items)})\n",
        "const result = await fetch(`${base}/v1/models`, { headers });\n",
        "// TODO: retry with exponential backoff when the upstream says 429\n",
        "static int gw_parse_header(const char *p, size_t n, struct gw_hdr *out)\n{\n",
        "\treturn err\n}\n",
        "SELECT key_id, SUM(prompt_tokens) FROM usage GROUP BY key_id;\n",
        "    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)\n",
        "}\n\n",
    };
    size_t end = b->len + bytes;
    while (b->len < end)
        gw_buf_puts(b, lines[rnd(sizeof lines / sizeof lines[0])]);
}

static void json(struct gw_buf *b, size_t bytes)
{
    size_t end = b->len + bytes;
    while (b->len < end)
        gw_buf_printf(b,
                      "{\"id\":\"req_%08x\",\"model\":\"gpt-4o-mini\",\"usage\":{\"prompt_tokens\":"
                      "%u,\"completion_tokens\":%u},\"tags\":[\"env=prod\",\"team=web\"],"
                      "\"latency_ms\":%u.%u}\n",
                      rnd(1u << 31), rnd(5000), rnd(900), rnd(3000), rnd(10));
}

static void scripts(struct gw_buf *b, size_t bytes)
{
    static const char *const s[] = {
        "\xe4\xbb\x8a\xe5\xa4\xa9\xe7\x9a\x84\xe5\xa4\xa9\xe6\xb0\x94\xe5\xbe\x88\xe5\xa5\xbd\xe3"
        "\x80\x82",
        "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\xe3\x80\x81\xe4\xb8\x96\xe7"
        "\x95\x8c\xef\xbc\x81",
        "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xd0\xbc\xd0\xb8\xd1\x80! ",
        "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd8\xa8\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7\xd9\x84"
        "\xd9\x85 ",
        "\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87 ",
        "\xec\x95\x88\xeb\x85\x95\xed\x95\x98\xec\x84\xb8\xec\x9a\x94 ",
        "\xf0\x9f\x91\x8d\xf0\x9f\x8e\x89 ",
        "Stra\xc3\x9f"
        "e caf\xc3\xa9 na\xc3\xafve ",
    };
    size_t end = b->len + bytes;
    while (b->len < end)
        gw_buf_puts(b, s[rnd(sizeof s / sizeof s[0])]);
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts text in chunks of `chunk` bytes (cut at a UTF-8 boundary); best
 * of 3 runs. Returns MB/s and the tokens of the last run. */
static double run(enum gw_tok_encoding e, const char *text, size_t len, size_t chunk, long *tokens)
{
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        long total = 0;
        double t0 = cpu_now();
        for (size_t at = 0; at < len;) {
            size_t n = len - at < chunk ? len - at : chunk;
            while (at + n < len && ((unsigned char)text[at + n] & 0xC0) == 0x80)
                n++;
            long c = gw_tok_count(e, text + at, n);
            if (c < 0) {
                fprintf(stderr, "tokenizer_bench: gw_tok_count failed\n");
                exit(1);
            }
            total += c;
            at += n;
        }
        double dt = cpu_now() - t0;
        if (dt < best)
            best = dt;
        *tokens = total;
    }
    return (double)len / 1e6 / best;
}

int main(int argc, char **argv)
{
    char err[256];
    if (gw_tok_init(err, sizeof err) != 0) {
        fprintf(stderr, "tokenizer_bench: %s\n", err);
        return 1;
    }
    struct gw_buf b = {0};
    const char *what = "built-in mix: 70% prose, 15% code, 5% JSON, 10% other scripts + emoji";
    if (argc > 1) {
        FILE *f = fopen(argv[1], "rb");
        if (!f) {
            perror(argv[1]);
            return 1;
        }
        char tmp[65536];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
            gw_buf_append(&b, tmp, n);
        fclose(f);
        what = argv[1];
    } else {
        while (b.len < 4u << 20) {
            prose(&b, 7000);
            code(&b, 1500);
            json(&b, 500);
            scripts(&b, 1000);
        }
    }
    printf("tokenizer_bench: %.2f MB (%s), one core, CPU time, best of 3\n", (double)b.len / 1e6,
           what);
    static const enum gw_tok_encoding encs[] = {GW_TOK_CL100K_BASE, GW_TOK_O200K_BASE};
    for (size_t i = 0; i < 2; i++) {
        long t1, t2;
        double chunked = run(encs[i], b.data, b.len, 4096, &t1);
        double whole = run(encs[i], b.data, b.len, b.len, &t2);
        printf("  %-12s %7.1f MB/s in 4 KiB requests, %7.1f MB/s as one text, %ld tokens "
               "(%.2f bytes/token)\n",
               gw_tok_encoding_name(encs[i]), chunked, whole, t2, (double)b.len / (double)t2);
    }
    gw_buf_free(&b);
    return 0;
}
