/* Private to common/tokenizer.c and its table generator
 * (common/tokenizer/gen.c): the layout of a compiled-in rank table and the
 * hash function both sides must agree on. Nothing else includes this. */
#ifndef GW_TOKENIZER_INT_H
#define GW_TOKENIZER_INT_H

#include <stddef.h>
#include <stdint.h>

/* One encoding's mergeable ranks, generated at build time from the
 * .tiktoken file and compiled in as read-only data (no start-up work, pages
 * shared between processes).
 *
 * Ranks are dense: token r (0 <= r < ntokens) is the byte string
 * bytes[off[r] .. off[r + 1]). slots is an open-addressing hash table with
 * linear probing of 2^bits entries (at most half full), keyed by
 * gw_tok_hash() of a token's bytes; an entry holds r + 1, 0 marks an empty
 * slot. The first probe is the top `bits` bits of the hash. */
struct gw_tok_table {
    const char *name; /* "cl100k_base" */
    uint32_t ntokens; /* number of mergeable ranks */
    uint32_t bits;    /* log2 of the number of slots */
    uint32_t maxlen;  /* longest token, in bytes */
    const unsigned char *bytes;
    const uint32_t *off;   /* ntokens + 1 entries */
    const uint32_t *slots; /* 1 << bits entries */
};

/* In the generated file ($(BUILD)/gen/tokenizer_data_gen.c). */
extern const struct gw_tok_table gw_tok_table_cl100k_base;
extern const struct gw_tok_table gw_tok_table_o200k_base;
extern const char gw_tok_data_source[]; /* "gpt-tokenizer@4.0.0" */

/* For the unit tests and the fuzz target: byte-pair encodes the piece
 * p[0..n) (n >= 2) of encoding e (enum gw_tok_encoding) with the merge loop
 * for short pieces (large = 0; n <= 32 only) or the heap (large = 1),
 * without first looking the whole piece up. Stores at most cap ids; returns
 * the number of tokens, or -1. */
long gw_tok_bpe_piece(int e, const unsigned char *p, size_t n, int large, uint32_t *ids,
                      size_t cap);

static inline uint64_t gw_tok_le32(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static inline uint64_t gw_tok_le64(const unsigned char *p)
{
    return gw_tok_le32(p) | gw_tok_le32(p + 4) << 32;
}

/* A 64-bit hash of n bytes, fast for the short strings BPE looks up (most
 * are under 16 bytes). The same on every host: bytes are read little-endian
 * whatever the machine, so a table generated on one machine works on any. */
static inline uint64_t gw_tok_hash(const unsigned char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xD6E8FEB86659FD93ull);
    uint64_t w;
    while (n > 8) {
        h = (h ^ gw_tok_le64(p)) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n >= 4)
        w = gw_tok_le32(p) | gw_tok_le32(p + n - 4) << 32;
    else if (n > 0)
        w = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
    else
        w = 0;
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    return h;
}

#endif
