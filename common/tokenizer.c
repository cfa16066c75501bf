/* Token counting: OpenAI's byte-pair encodings cl100k_base and o200k_base,
 * exactly as tiktoken (and js-tiktoken, the reference of the tests) encode
 * ordinary text, plus the chat-request overhead rule and the estimate used
 * for models without a known encoding.
 *
 * DESIGN
 *
 * Encoding a text is two steps. Pre-tokenisation splits it into pieces with
 * the encoding's regex (PCRE2, UTF + UCP, JIT-compiled); then each piece is
 * byte-pair encoded on its own: if the whole piece is a token, that is its
 * one token; otherwise start from single bytes and repeatedly merge the
 * adjacent pair whose concatenation has the lowest rank (leftmost on a tie)
 * until no adjacent pair is a token. Short pieces use tiktoken's own
 * quadratic loop over a small array (fastest for the usual 2-30 bytes);
 * pieces longer than GW_TOK_SMALL bytes use a linked list and a min-heap of
 * (rank, position) with lazy deletion, O(n log n), which picks exactly the
 * same merge at every step, so a 100 kB run of letters costs milliseconds,
 * not minutes.
 *
 * The regexes are the ones js-tiktoken runs (JavaScript, flags "ug"),
 * translated to PCRE2 so that they match the same pieces: JavaScript's \s is
 * [\t\n\v\f\r\x{FEFF}\p{Zs}\x{2028}\x{2029}] (PCRE2's \s differs on U+0085,
 * U+180E and U+FEFF), so it is spelled out; the case variants of the
 * contractions ('s 'S 're 'rE ...) are written as classes. Special tokens
 * ("<|endoftext|>") are never recognised: they are ordinary text.
 *
 * PCRE2 requires valid UTF-8. Input is checked once (a fast pass); invalid
 * sequences are replaced by U+FFFD in a scratch copy (the WHATWG/Unicode
 * "maximal subpart" rule, as TextDecoder and Python's errors="replace" do),
 * and every match then runs with PCRE2_NO_UTF_CHECK (through the JIT fast
 * path when available): without it PCRE2 would re-validate the rest of the
 * subject at every match, which is quadratic.
 *
 * The rank tables are read-only data generated at build time
 * (common/tokenizer/gen.c, common/tokenizer-int.h). Threads: the compiled
 * regexes are made once (pthread_once) and only read afterwards; each
 * thread has its own scratch (match data, BPE arrays, the UTF-8 repair
 * buffer), found through a thread-local pointer and freed by a
 * pthread_key destructor when the thread exits. No lock on the count path. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"
#include "tokenizer-int.h"

#include <cjson/cJSON.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GW_TOK_NO_RANK UINT32_MAX
/* Pieces up to this many bytes use the array merge loop; longer ones the
 * heap. Measured: the heap is as fast from about 24 bytes on. */
#define GW_TOK_SMALL 32
/* Scratch larger than this (heap-merge arrays for pieces of more than 64 Ki
 * bytes: 36 bytes each; a repaired copy of more than 1 MiB) is freed after
 * the call that needed it, so one huge request does not pin memory in every
 * thread. */
#define GW_TOK_KEEP_PIECE ((size_t)1 << 16)
#define GW_TOK_KEEP_BYTES ((size_t)1 << 20)

/* JavaScript's \s, for use inside a character class. */
#define JS_S        "\\t\\n\\x0B\\f\\r\\x{FEFF}\\p{Zs}\\x{2028}\\x{2029}"
#define CONTRACTION "'(?:[sStTmMdD]|[rR][eE]|[vV][eE]|[lL][lL])"

/* cl100k_base, as js-tiktoken has it:
 *   ('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)
 *   |[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
 *   |\s*[\r\n]+|\s+(?!\S)|\s+ */
static const char gw_tok_pat_cl100k[] = "(?:" CONTRACTION ")"
                                        "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
                                        "|\\p{N}{1,3}"
                                        "| ?[^" JS_S "\\p{L}\\p{N}]+[\\r\\n]*"
                                        "|[" JS_S "]*[\\r\\n]+"
                                        "|[" JS_S "]+(?![^" JS_S "])"
                                        "|[" JS_S "]+";

/* o200k_base, as js-tiktoken has it:
 *   [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(C)?
 *   |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(C)?
 *   |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * where C is the same contraction list as above. */
static const char gw_tok_pat_o200k[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?:" CONTRACTION ")?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "(?:" CONTRACTION ")?"
    "|\\p{N}{1,3}"
    "| ?[^" JS_S "\\p{L}\\p{N}]+[\\r\\n/]*"
    "|[" JS_S "]*[\\r\\n]+"
    "|[" JS_S "]+(?![^" JS_S "])"
    "|[" JS_S "]+";

struct gw_tok_enc {
    const struct gw_tok_table *table;
    const char *pattern;
    pcre2_code *re;
    int jit; /* JIT compile succeeded: use pcre2_jit_match */
};

#define GW_TOK_NENC 3 /* indexed by enum gw_tok_encoding; [0] unused */

/* Process-wide, written once under gw_tok_once, read-only afterwards. */
static struct gw_tok_enc gw_tok_encs[GW_TOK_NENC] = {
    [GW_TOK_CL100K_BASE] = {.table = &gw_tok_table_cl100k_base, .pattern = gw_tok_pat_cl100k},
    [GW_TOK_O200K_BASE] = {.table = &gw_tok_table_o200k_base, .pattern = gw_tok_pat_o200k},
};
static pthread_once_t gw_tok_once = PTHREAD_ONCE_INIT;
static pthread_key_t gw_tok_key;
static int gw_tok_init_rc = -1;
static char gw_tok_init_err[256];

/* Per-thread scratch. */
struct gw_tok_scratch {
    pcre2_match_data *md;
    unsigned char *fixed; /* UTF-8 repaired copy of the input */
    size_t fixed_cap;
    uint32_t *next, *prev, *rank; /* heap merge: n + 1 entries each */
    uint64_t *heap;               /* 3n entries: (rank << 32) | position */
    size_t cap;                   /* n the arrays above were sized for */
};
static __thread struct gw_tok_scratch *gw_tok_tls;

/* Where ids go: counted always, stored when ids is wanted. */
struct gw_tok_out {
    long count;
    int want_ids;
    uint32_t *ids;
    size_t cap;
};

static void gw_tok_scratch_free_arrays(struct gw_tok_scratch *s)
{
    free(s->next);
    free(s->prev);
    free(s->rank);
    free(s->heap);
    s->next = s->prev = s->rank = NULL;
    s->heap = NULL;
    s->cap = 0;
}

static void gw_tok_scratch_destroy(void *p)
{
    struct gw_tok_scratch *s = p;
    if (!s)
        return;
    pcre2_match_data_free(s->md);
    free(s->fixed);
    gw_tok_scratch_free_arrays(s);
    free(s);
}

static void gw_tok_do_init(void)
{
    if (pthread_key_create(&gw_tok_key, gw_tok_scratch_destroy) != 0) {
        snprintf(gw_tok_init_err, sizeof gw_tok_init_err, "tokenizer: pthread_key_create failed");
        return;
    }
    for (int e = 1; e < GW_TOK_NENC; e++) {
        struct gw_tok_enc *enc = &gw_tok_encs[e];
        const struct gw_tok_table *t = enc->table;
        if (t->ntokens < 256 || t->bits < 9 || t->bits > 30 || t->off[t->ntokens] == 0) {
            snprintf(gw_tok_init_err, sizeof gw_tok_init_err,
                     "tokenizer: %s: the compiled-in rank table is malformed", t->name);
            return;
        }
        int ec;
        PCRE2_SIZE eoff;
        enc->re = pcre2_compile((PCRE2_SPTR)enc->pattern, PCRE2_ZERO_TERMINATED,
                                PCRE2_UTF | PCRE2_UCP, &ec, &eoff, NULL);
        if (!enc->re) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(ec, msg, sizeof msg);
            snprintf(gw_tok_init_err, sizeof gw_tok_init_err,
                     "tokenizer: %s: regex does not compile at offset %zu: %s", t->name,
                     (size_t)eoff, (const char *)msg);
            return;
        }
        /* without JIT (a PCRE2 built without it) the interpreter is used:
         * same results, slower */
        enc->jit = pcre2_jit_compile(enc->re, PCRE2_JIT_COMPLETE) == 0;
    }
    gw_tok_init_rc = 0;
}

int gw_tok_init(char *err, size_t errlen)
{
    pthread_once(&gw_tok_once, gw_tok_do_init);
    if (gw_tok_init_rc != 0 && err && errlen)
        snprintf(err, errlen, "%s", gw_tok_init_err);
    return gw_tok_init_rc;
}

static struct gw_tok_scratch *gw_tok_scratch_get(void)
{
    struct gw_tok_scratch *s = gw_tok_tls;
    if (s)
        return s;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    /* one pair: only the whole match is used (the patterns capture
     * nothing); usable with either pattern */
    s->md = pcre2_match_data_create(1, NULL);
    if (!s->md || pthread_setspecific(gw_tok_key, s) != 0) {
        gw_tok_scratch_destroy(s);
        return NULL;
    }
    gw_tok_tls = s;
    return s;
}

/* Model families, longest first where one prefixes another (gpt-4o before
 * gpt-4). A prefix matches when the name ends there or goes on with one of
 * "-.:_@" (so "o1-mini" is o1 but "o100" is not). */
static const struct {
    const char *prefix;
    enum gw_tok_encoding enc;
} gw_tok_models[] = {
    {"gpt-4o", GW_TOK_O200K_BASE},
    {"gpt-4.1", GW_TOK_O200K_BASE},
    {"gpt-4.5", GW_TOK_O200K_BASE},
    {"gpt-5", GW_TOK_O200K_BASE},
    {"chatgpt-4o", GW_TOK_O200K_BASE},
    {"o1", GW_TOK_O200K_BASE},
    {"o3", GW_TOK_O200K_BASE},
    {"o4", GW_TOK_O200K_BASE},
    {"gpt-4", GW_TOK_CL100K_BASE},
    {"gpt-3.5", GW_TOK_CL100K_BASE},
    {"gpt-35", GW_TOK_CL100K_BASE},
    {"text-embedding-3", GW_TOK_CL100K_BASE},
    {"text-embedding-ada-002", GW_TOK_CL100K_BASE},
};

enum gw_tok_encoding gw_tok_encoding_for_model(const char *model)
{
    if (!model)
        return GW_TOK_ESTIMATE;
    if (strncasecmp(model, "ft:", 3) == 0)
        model += 3;
    if (strncasecmp(model, "openai/", 7) == 0)
        model += 7;
    for (size_t i = 0; i < sizeof gw_tok_models / sizeof gw_tok_models[0]; i++) {
        size_t n = strlen(gw_tok_models[i].prefix);
        if (strncasecmp(model, gw_tok_models[i].prefix, n) == 0 &&
            (model[n] == '\0' || strchr("-.:_@", model[n])))
            return gw_tok_models[i].enc;
    }
    return GW_TOK_ESTIMATE;
}

const char *gw_tok_encoding_name(enum gw_tok_encoding e)
{
    switch (e) {
    case GW_TOK_CL100K_BASE:
        return "cl100k_base";
    case GW_TOK_O200K_BASE:
        return "o200k_base";
    default:
        return "estimate";
    }
}

/* ---- rank lookup ---- */

static inline uint32_t gw_tok_rank(const struct gw_tok_table *t, const unsigned char *p, size_t n)
{
    if (n > t->maxlen)
        return GW_TOK_NO_RANK;
    size_t mask = ((size_t)1 << t->bits) - 1;
    size_t i = (size_t)(gw_tok_hash(p, n) >> (64 - t->bits));
    for (;;) {
        uint32_t s = t->slots[i];
        if (!s)
            return GW_TOK_NO_RANK;
        uint32_t r = s - 1, o = t->off[r];
        if (t->off[r + 1] - o == n && memcmp(t->bytes + o, p, n) == 0)
            return r;
        i = (i + 1) & mask;
    }
}

static int gw_tok_emit(struct gw_tok_out *out, uint32_t id)
{
    if (out->want_ids) {
        if ((size_t)out->count == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 256;
            uint32_t *p = realloc(out->ids, cap * sizeof *p);
            if (!p)
                return -1;
            out->ids = p;
            out->cap = cap;
        }
        out->ids[out->count] = id;
    }
    out->count++;
    return 0;
}

/* ---- byte-pair merge ---- */

/* tiktoken's loop, for n <= GW_TOK_SMALL: part i starts at st[i]; rk[i] is
 * the rank of part i joined with part i + 1. */
static int gw_tok_bpe_small(const struct gw_tok_table *t, const unsigned char *p, size_t n,
                            struct gw_tok_out *out)
{
    uint32_t st[GW_TOK_SMALL + 1], rk[GW_TOK_SMALL + 1];
    size_t m = n + 1; /* parts, counting the end marker st[n] = n */
    for (size_t i = 0; i + 1 < n; i++) {
        st[i] = (uint32_t)i;
        rk[i] = gw_tok_rank(t, p + i, 2);
    }
    st[n - 1] = (uint32_t)(n - 1);
    rk[n - 1] = GW_TOK_NO_RANK;
    st[n] = (uint32_t)n;
    rk[n] = GW_TOK_NO_RANK;
    for (;;) {
        uint32_t best = GW_TOK_NO_RANK;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            if (rk[i] < best) {
                best = rk[i];
                bi = i;
            }
        }
        if (best == GW_TOK_NO_RANK)
            break;
        /* merge part bi with bi + 1: the new pair ranks of bi - 1 and bi
         * span up to the part after the merged one */
        if (bi > 0)
            rk[bi - 1] = bi + 2 < m ? gw_tok_rank(t, p + st[bi - 1], st[bi + 2] - st[bi - 1])
                                    : GW_TOK_NO_RANK;
        rk[bi] = bi + 3 < m ? gw_tok_rank(t, p + st[bi], st[bi + 3] - st[bi]) : GW_TOK_NO_RANK;
        memmove(st + bi + 1, st + bi + 2, (m - bi - 2) * sizeof st[0]);
        memmove(rk + bi + 1, rk + bi + 2, (m - bi - 2) * sizeof rk[0]);
        m--;
    }
    if (!out->want_ids) {
        out->count += (long)(m - 1);
        return 0;
    }
    for (size_t i = 0; i + 1 < m; i++)
        if (gw_tok_emit(out, gw_tok_rank(t, p + st[i], st[i + 1] - st[i])) != 0)
            return -1;
    return 0;
}

static void gw_tok_heap_push(uint64_t *h, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (h[up] <= v)
            break;
        h[i] = h[up];
        i = up;
    }
    h[i] = v;
}

static uint64_t gw_tok_heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], v = h[--*n];
    size_t i = 0, len = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= len)
            break;
        if (c + 1 < len && h[c + 1] < h[c])
            c++;
        if (v <= h[c])
            break;
        h[i] = h[c];
        i = c;
    }
    if (len)
        h[i] = v;
    return top;
}

static int gw_tok_scratch_reserve(struct gw_tok_scratch *s, size_t n)
{
    if (n <= s->cap)
        return 0;
    gw_tok_scratch_free_arrays(s);
    size_t cap = n < 1024 ? 1024 : n;
    s->next = malloc((cap + 1) * sizeof(uint32_t));
    s->prev = malloc((cap + 1) * sizeof(uint32_t));
    s->rank = malloc((cap + 1) * sizeof(uint32_t));
    s->heap = malloc(3 * (cap + 1) * sizeof(uint64_t));
    if (!s->next || !s->prev || !s->rank || !s->heap) {
        gw_tok_scratch_free_arrays(s);
        return -1;
    }
    s->cap = cap;
    return 0;
}

/* The same merges as gw_tok_bpe_small in O(n log n): the parts form a
 * linked list of start positions (next[i] = start of the following part,
 * n at the end); rank[i] is the rank of part i joined with its successor,
 * NO_RANK when none or when i is no longer a part start. The heap orders
 * (rank, position) pairs, so popping yields the lowest rank and, among
 * equal ranks, the leftmost pair: tiktoken's choice. Entries whose rank no
 * longer matches rank[i] are stale and skipped. */
static int gw_tok_bpe_large(const struct gw_tok_table *t, struct gw_tok_scratch *s,
                            const unsigned char *p, size_t n, struct gw_tok_out *out)
{
    if (n > UINT32_MAX - 1 || gw_tok_scratch_reserve(s, n) != 0)
        return -1;
    uint32_t *next = s->next, *prev = s->prev, *rank = s->rank;
    uint64_t *heap = s->heap;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = (uint32_t)(i + 1);
        prev[i] = (uint32_t)(i - 1); /* prev[0] unused */
        rank[i] = i + 1 < n ? gw_tok_rank(t, p + i, 2) : GW_TOK_NO_RANK;
        if (rank[i] != GW_TOK_NO_RANK)
            heap[hn++] = (uint64_t)rank[i] << 32 | i;
    }
    /* heapify */
    for (size_t k = hn / 2; k-- > 0;) {
        uint64_t v = heap[k];
        size_t i = k;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= hn)
                break;
            if (c + 1 < hn && heap[c + 1] < heap[c])
                c++;
            if (v <= heap[c])
                break;
            heap[i] = heap[c];
            i = c;
        }
        heap[i] = v;
    }
    size_t parts = n;
    while (hn > 0) {
        uint64_t top = gw_tok_heap_pop(heap, &hn);
        uint32_t r = (uint32_t)(top >> 32), i = (uint32_t)top;
        if (rank[i] != r)
            continue;         /* stale */
        uint32_t j = next[i]; /* absorbed */
        uint32_t k = next[j]; /* start of the part after the merged one */
        next[i] = k;
        if (k < n)
            prev[k] = i;
        rank[j] = GW_TOK_NO_RANK;
        parts--;
        if (k < n) {
            rank[i] = gw_tok_rank(t, p + i, next[k] - i);
            if (rank[i] != GW_TOK_NO_RANK)
                gw_tok_heap_push(heap, &hn, (uint64_t)rank[i] << 32 | i);
        } else {
            rank[i] = GW_TOK_NO_RANK;
        }
        if (i > 0) {
            uint32_t h = prev[i];
            rank[h] = gw_tok_rank(t, p + h, k - h);
            if (rank[h] != GW_TOK_NO_RANK)
                gw_tok_heap_push(heap, &hn, (uint64_t)rank[h] << 32 | h);
        }
    }
    int rc = 0;
    if (!out->want_ids) {
        out->count += (long)parts;
    } else {
        for (uint32_t i = 0; i < n; i = next[i]) {
            if (gw_tok_emit(out, gw_tok_rank(t, p + i, next[i] - i)) != 0) {
                rc = -1;
                break;
            }
        }
    }
    if (s->cap > GW_TOK_KEEP_PIECE)
        gw_tok_scratch_free_arrays(s);
    return rc;
}

static int gw_tok_piece(const struct gw_tok_table *t, struct gw_tok_scratch *s,
                        const unsigned char *p, size_t n, struct gw_tok_out *out)
{
    uint32_t r = gw_tok_rank(t, p, n);
    if (r != GW_TOK_NO_RANK)
        return gw_tok_emit(out, r);
    /* n >= 2 here: every single byte is a token */
    if (n <= GW_TOK_SMALL)
        return gw_tok_bpe_small(t, p, n, out);
    return gw_tok_bpe_large(t, s, p, n, out);
}

long gw_tok_bpe_piece(int e, const unsigned char *p, size_t n, int large, uint32_t *ids, size_t cap)
{
    if ((e != GW_TOK_CL100K_BASE && e != GW_TOK_O200K_BASE) || n < 2 ||
        (!large && n > GW_TOK_SMALL) || gw_tok_init(NULL, 0) != 0)
        return -1;
    struct gw_tok_scratch *s = gw_tok_scratch_get();
    if (!s)
        return -1;
    struct gw_tok_out out = {.want_ids = 1};
    const struct gw_tok_table *t = gw_tok_encs[e].table;
    int rc = large ? gw_tok_bpe_large(t, s, p, n, &out) : gw_tok_bpe_small(t, p, n, &out);
    if (rc == 0)
        memcpy(ids, out.ids,
               (size_t)out.count < cap ? (size_t)out.count * sizeof *ids : cap * sizeof *ids);
    free(out.ids);
    return rc == 0 ? out.count : -1;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at p[0..n) (n >= 1, p[0] >= 0x80), or
 * 0 if invalid; on 0, *bad is the length of the maximal invalid subpart to
 * replace by one U+FFFD (at least 1). */
static size_t gw_tok_utf8_seq(const unsigned char *p, size_t n, size_t *bad)
{
    unsigned c = p[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t k = 1; k < need; k++) {
        if (k >= n || p[k] < (k == 1 ? lo : 0x80) || p[k] > (k == 1 ? hi : 0xBF)) {
            *bad = k;
            return 0;
        }
    }
    return need;
}

/* Offset of the first invalid byte, or n if p[0..n) is valid UTF-8. */
static size_t gw_tok_utf8_valid_prefix(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t bad, k = gw_tok_utf8_seq(p + i, n - i, &bad);
        if (!k)
            return i;
        i += k;
    }
    return n;
}

/* Copies p[0..n) into s->fixed with each maximal invalid subpart replaced by
 * U+FFFD (EF BF BD); the valid prefix [0..valid) is copied as is. */
static int gw_tok_utf8_repair(struct gw_tok_scratch *s, const unsigned char *p, size_t n,
                              size_t valid, size_t *outlen)
{
    if (n > ((size_t)-1) / 3 - 1)
        return -1;
    size_t need = 3 * n + 1;
    if (need > s->fixed_cap) {
        unsigned char *q = realloc(s->fixed, need);
        if (!q)
            return -1;
        s->fixed = q;
        s->fixed_cap = need;
    }
    unsigned char *o = s->fixed;
    memcpy(o, p, valid);
    size_t len = valid, i = valid;
    while (i < n) {
        if (p[i] < 0x80) {
            o[len++] = p[i++];
            continue;
        }
        size_t bad, k = gw_tok_utf8_seq(p + i, n - i, &bad);
        if (k) {
            memcpy(o + len, p + i, k);
            len += k;
            i += k;
        } else {
            o[len++] = 0xEF;
            o[len++] = 0xBF;
            o[len++] = 0xBD;
            i += bad;
        }
    }
    *outlen = len;
    return 0;
}

/* ---- encode ---- */

static int gw_tok_run(enum gw_tok_encoding e, const char *text, size_t len, struct gw_tok_out *out)
{
    if (e != GW_TOK_CL100K_BASE && e != GW_TOK_O200K_BASE)
        return -1;
    if (gw_tok_init(NULL, 0) != 0)
        return -1;
    if (len == 0)
        return 0;
    if (!text)
        return -1;
    struct gw_tok_scratch *s = gw_tok_scratch_get();
    if (!s)
        return -1;
    const struct gw_tok_enc *enc = &gw_tok_encs[e];
    const unsigned char *p = (const unsigned char *)text;
    size_t n = len;
    size_t valid = gw_tok_utf8_valid_prefix(p, n);
    if (valid < n) {
        if (gw_tok_utf8_repair(s, p, n, valid, &n) != 0)
            return -1;
        p = s->fixed;
    }
    int rc = 0;
    size_t pos = 0;
    while (pos < n) {
        int m;
        if (enc->jit)
            m = pcre2_jit_match(enc->re, p, n, pos, PCRE2_NO_UTF_CHECK, s->md, NULL);
        else
            m = pcre2_match(enc->re, p, n, pos, PCRE2_NO_UTF_CHECK, s->md, NULL);
        if (m == PCRE2_ERROR_NOMATCH)
            break; /* no piece in the rest (cannot happen: every character
                      is covered by some alternative) */
        if (m < 0) {
            rc = -1;
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        size_t a = ov[0], b = ov[1];
        if (b <= a) {
            /* an empty match (no alternative allows one): step over one
             * character, as JavaScript's matchAll would */
            pos = a + 1;
            while (pos < n && (p[pos] & 0xC0) == 0x80)
                pos++;
            continue;
        }
        if (gw_tok_piece(enc->table, s, p + a, b - a, out) != 0) {
            rc = -1;
            break;
        }
        pos = b;
    }
    if (s->fixed_cap > GW_TOK_KEEP_BYTES) {
        free(s->fixed);
        s->fixed = NULL;
        s->fixed_cap = 0;
    }
    return rc;
}

long gw_tok_count(enum gw_tok_encoding e, const char *text, size_t len)
{
    if (e == GW_TOK_ESTIMATE)
        return (long)(len / 4 + (len % 4 != 0));
    struct gw_tok_out out = {0};
    if (gw_tok_run(e, text, len, &out) != 0)
        return -1;
    return out.count;
}

long gw_tok_encode(enum gw_tok_encoding e, const char *text, size_t len, uint32_t **ids)
{
    *ids = NULL;
    struct gw_tok_out out = {.want_ids = 1};
    if (gw_tok_run(e, text, len, &out) != 0) {
        free(out.ids);
        return -1;
    }
    *ids = out.ids;
    return out.count;
}

char *gw_tok_decode(enum gw_tok_encoding e, const uint32_t *ids, size_t n, size_t *len)
{
    if (e != GW_TOK_CL100K_BASE && e != GW_TOK_O200K_BASE)
        return NULL;
    const struct gw_tok_table *t = gw_tok_encs[e].table;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= t->ntokens)
            return NULL;
        total += t->off[ids[i] + 1] - t->off[ids[i]];
    }
    char *buf = malloc(total + 1);
    if (!buf)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t o = t->off[ids[i]], k = t->off[ids[i] + 1] - o;
        memcpy(buf + at, t->bytes + o, k);
        at += k;
    }
    buf[at] = '\0';
    if (len)
        *len = at;
    return buf;
}

/* ---- chat requests ---- */

/* Estimates for what is not text (docs/tokenizer.md): an image at low
 * detail costs 85 tokens on OpenAI's vision models; at high or auto detail
 * 85 + 170 per 512-pixel tile, and the size is not known without decoding
 * the image, so a 1024x1024 image (4 tiles) is assumed. */
#define GW_TOK_IMAGE_LOW  85
#define GW_TOK_IMAGE_HIGH 765
#define GW_TOK_FILE_ID    765
/* audio: 10 tokens per second, the duration guessed at 16 kB of audio per
 * second; files: one token per 16 bytes */
#define GW_TOK_AUDIO_BYTES_PER_TOKEN 1600
#define GW_TOK_FILE_BYTES_PER_TOKEN  16
/* per tool call in an assistant message, besides its name and arguments */
#define GW_TOK_TOOL_CALL 3

static long gw_tok_str(enum gw_tok_encoding e, const char *s)
{
    return s ? gw_tok_count(e, s, strlen(s)) : 0;
}

/* adds v to *acc unless either is an error */
static void gw_tok_add(long *acc, long v)
{
    if (*acc < 0 || v < 0)
        *acc = -1;
    else
        *acc += v;
}

static const char *gw_tok_get_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* decoded size of base64 text (a data: URL's payload is after the comma) */
static size_t gw_tok_b64_bytes(const char *s)
{
    if (!s)
        return 0;
    const char *comma = strncmp(s, "data:", 5) == 0 ? strchr(s, ',') : NULL;
    if (comma)
        s = comma + 1;
    return strlen(s) / 4 * 3;
}

static long gw_tok_content_part(enum gw_tok_encoding e, const cJSON *part)
{
    if (cJSON_IsString(part))
        return gw_tok_str(e, part->valuestring);
    const char *type = gw_tok_get_str(part, "type");
    if (!type)
        return 0;
    if (strcmp(type, "text") == 0 || strcmp(type, "input_text") == 0)
        return gw_tok_str(e, gw_tok_get_str(part, "text"));
    if (strcmp(type, "refusal") == 0)
        return gw_tok_str(e, gw_tok_get_str(part, "refusal"));
    if (strcmp(type, "image_url") == 0 || strcmp(type, "input_image") == 0) {
        const cJSON *img = cJSON_GetObjectItemCaseSensitive(part, "image_url");
        const char *detail = gw_tok_get_str(cJSON_IsObject(img) ? img : part, "detail");
        return detail && strcmp(detail, "low") == 0 ? GW_TOK_IMAGE_LOW : GW_TOK_IMAGE_HIGH;
    }
    if (strcmp(type, "input_audio") == 0) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(part, "input_audio");
        size_t bytes = gw_tok_b64_bytes(gw_tok_get_str(a, "data"));
        return (long)(bytes / GW_TOK_AUDIO_BYTES_PER_TOKEN) + 1;
    }
    if (strcmp(type, "file") == 0) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(part, "file");
        const char *data = gw_tok_get_str(f, "file_data");
        if (!data)
            return GW_TOK_FILE_ID;
        return (long)(gw_tok_b64_bytes(data) / GW_TOK_FILE_BYTES_PER_TOKEN) + 1;
    }
    return 0;
}

/* a tool call or a legacy function_call: {"name", "arguments"} */
static long gw_tok_function_call(enum gw_tok_encoding e, const cJSON *fn)
{
    long n = GW_TOK_TOOL_CALL;
    gw_tok_add(&n, gw_tok_str(e, gw_tok_get_str(fn, "name")));
    gw_tok_add(&n, gw_tok_str(e, gw_tok_get_str(fn, "arguments")));
    return n;
}

static long gw_tok_message(enum gw_tok_encoding e, const cJSON *msg)
{
    long n = 3; /* <|start|>{role/name}\n{content}<|end|>\n */
    const cJSON *field;
    cJSON_ArrayForEach(field, msg)
    {
        const char *key = field->string ? field->string : "";
        if (cJSON_IsString(field)) {
            gw_tok_add(&n, gw_tok_str(e, field->valuestring));
            if (strcmp(key, "name") == 0)
                gw_tok_add(&n, 1);
        } else if (strcmp(key, "content") == 0 && cJSON_IsArray(field)) {
            const cJSON *part;
            cJSON_ArrayForEach(part, field)
            {
                gw_tok_add(&n, gw_tok_content_part(e, part));
            }
        } else if (strcmp(key, "tool_calls") == 0 && cJSON_IsArray(field)) {
            const cJSON *call;
            cJSON_ArrayForEach(call, field)
            {
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
                if (cJSON_IsObject(fn))
                    gw_tok_add(&n, gw_tok_function_call(e, fn));
            }
        } else if (strcmp(key, "function_call") == 0 && cJSON_IsObject(field)) {
            gw_tok_add(&n, gw_tok_function_call(e, field));
        }
    }
    return n;
}

/* The tokens of "a:b:c" (or "a:c" when b is NULL) with one final '.' of c
 * dropped, as the cookbook writes a function's or a property's line. */
static long gw_tok_desc(enum gw_tok_encoding e, const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0, lc = strlen(c);
    if (lc && c[lc - 1] == '.')
        lc--;
    char *buf = malloc(la + lb + lc + 3);
    if (!buf)
        return -1;
    size_t at = 0;
    memcpy(buf, a, la);
    at += la;
    buf[at++] = ':';
    if (b) {
        memcpy(buf + at, b, lb);
        at += lb;
        buf[at++] = ':';
    }
    memcpy(buf + at, c, lc);
    at += lc;
    long n = gw_tok_count(e, buf, at);
    free(buf);
    return n;
}

/* Tool definitions, by the cookbook's rule (exact on its examples): per
 * function 7 (o200k) or 10 (cl100k) + tokens("name:description"); if it has
 * properties, 3, then per property 3 + tokens("key:type:description"), and
 * for an enum -3 + per item 3 + tokens(item); 12 at the end when any tool
 * is given. Schemas nested deeper are counted as their JSON text (an
 * estimate). */
static long gw_tok_tools(enum gw_tok_encoding e, const cJSON *tools)
{
    if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) == 0)
        return 0;
    long n = 12; /* func_end */
    const long func_init = e == GW_TOK_CL100K_BASE ? 10 : 7;
    const cJSON *tool;
    cJSON_ArrayForEach(tool, tools)
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
        if (!cJSON_IsObject(fn))
            fn = tool;
        const char *name = gw_tok_get_str(fn, "name");
        const char *desc = gw_tok_get_str(fn, "description");
        gw_tok_add(&n, func_init);
        gw_tok_add(&n, gw_tok_desc(e, name ? name : "", NULL, desc ? desc : ""));
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(params, "properties");
        if (!cJSON_IsObject(props) || !props->child)
            continue;
        gw_tok_add(&n, 3); /* prop_init */
        const cJSON *prop;
        cJSON_ArrayForEach(prop, props)
        {
            gw_tok_add(&n, 3); /* prop_key */
            const char *ptype = gw_tok_get_str(prop, "type");
            const char *pdesc = gw_tok_get_str(prop, "description");
            const cJSON *en = cJSON_GetObjectItemCaseSensitive(prop, "enum");
            const cJSON *sub;
            if (cJSON_IsArray(en)) {
                if (n >= 0)
                    n -= 3; /* enum_init */
                const cJSON *item;
                cJSON_ArrayForEach(item, en)
                {
                    gw_tok_add(&n, 3);
                    if (cJSON_IsString(item))
                        gw_tok_add(&n, gw_tok_str(e, item->valuestring));
                }
            }
            gw_tok_add(&n, gw_tok_desc(e, prop->string ? prop->string : "", ptype ? ptype : "",
                                       pdesc ? pdesc : ""));
            cJSON_ArrayForEach(sub, prop)
            {
                const char *k = sub->string ? sub->string : "";
                if (strcmp(k, "type") == 0 || strcmp(k, "description") == 0 ||
                    strcmp(k, "enum") == 0)
                    continue;
                char *json = cJSON_PrintUnformatted(sub);
                if (!json) {
                    n = -1;
                    break;
                }
                gw_tok_add(&n, gw_tok_str(e, k));
                gw_tok_add(&n, gw_tok_str(e, json));
                cJSON_free(json);
            }
        }
    }
    return n;
}

long gw_tok_count_chat(const char *model, const cJSON *messages, const cJSON *tools)
{
    if (!cJSON_IsArray(messages))
        return -1;
    enum gw_tok_encoding e = gw_tok_encoding_for_model(model);
    long n = 3; /* every reply is primed with <|start|>assistant<|message|> */
    const cJSON *msg;
    cJSON_ArrayForEach(msg, messages)
    {
        if (cJSON_IsObject(msg))
            gw_tok_add(&n, gw_tok_message(e, msg));
        else
            gw_tok_add(&n, 3);
    }
    if (tools)
        gw_tok_add(&n, gw_tok_tools(e, tools));
    return n;
}
