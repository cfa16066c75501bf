/* Build-time generator of the tokenizer's rank tables (not linked into any
 * binary: the Makefile builds it as $(BUILD)/tools/tokenizer-gen).
 *
 *   tokenizer-gen SOURCE OUT.c cl100k_base.tiktoken o200k_base.tiktoken
 *
 * Reads each .tiktoken file (one "base64-token rank" per line, ranks dense
 * from 0 in file order), checks it, and writes OUT.c defining the
 * struct gw_tok_table of each encoding (common/tokenizer-int.h): the token
 * bytes as one string literal, the offsets, and the open-addressing hash
 * table precomputed with gw_tok_hash(), so that loading the tables at run
 * time costs nothing. SOURCE (e.g. "gpt-tokenizer@4.0.0") is recorded as
 * gw_tok_data_source. Exits non-zero with a message on any malformed input. */
#include "tokenizer-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct table {
    const char *name;
    unsigned char *bytes;
    size_t nbytes;
    uint32_t *off;
    uint32_t ntokens;
    uint32_t bits;
    uint32_t maxlen;
    uint32_t *slots;
};

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes padded base64 s[0..n) into out; returns the byte count or -1. */
static long b64decode(const char *s, size_t n, unsigned char *out)
{
    if (n == 0 || n % 4 != 0)
        return -1;
    long len = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else {
                if (pad)
                    return -1;
                v[k] = b64val((unsigned char)s[i + k]);
                if (v[k] < 0)
                    return -1;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[len++] = (unsigned char)(w >> 16);
        if (pad < 2)
            out[len++] = (unsigned char)(w >> 8);
        if (pad < 1)
            out[len++] = (unsigned char)w;
    }
    return len;
}

static int die(const char *path, long line, const char *msg)
{
    if (line > 0)
        fprintf(stderr, "tokenizer-gen: %s:%ld: %s\n", path, line, msg);
    else
        fprintf(stderr, "tokenizer-gen: %s: %s\n", path, msg);
    return -1;
}

static int load(struct table *t, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "tokenizer-gen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 20, tokcap = 1 << 16;
    t->bytes = malloc(cap);
    t->off = malloc(sizeof(uint32_t) * (tokcap + 1));
    t->off[0] = 0;
    char line[1024];
    long lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') {
            rc = die(path, lineno, "line too long or not terminated");
            break;
        }
        line[--n] = '\0';
        char *sp = strchr(line, ' ');
        if (!sp) {
            rc = die(path, lineno, "expected \"base64 rank\"");
            break;
        }
        char *end;
        errno = 0;
        unsigned long rank = strtoul(sp + 1, &end, 10);
        if (errno || *end || end == sp + 1 || rank != t->ntokens) {
            rc = die(path, lineno, "ranks must be dense and in order from 0");
            break;
        }
        if (t->ntokens + 1 > tokcap) {
            tokcap *= 2;
            t->off = realloc(t->off, sizeof(uint32_t) * (tokcap + 1));
        }
        if (t->nbytes + 1024 > cap) {
            cap *= 2;
            t->bytes = realloc(t->bytes, cap);
        }
        if (!t->off || !t->bytes) {
            rc = die(path, 0, "out of memory");
            break;
        }
        long len = b64decode(line, (size_t)(sp - line), t->bytes + t->nbytes);
        if (len <= 0) {
            rc = die(path, lineno, "bad base64 token");
            break;
        }
        t->nbytes += (size_t)len;
        if ((uint32_t)len > t->maxlen)
            t->maxlen = (uint32_t)len;
        t->ntokens++;
        t->off[t->ntokens] = (uint32_t)t->nbytes;
    }
    if (rc == 0 && ferror(f))
        rc = die(path, 0, "read error");
    fclose(f);
    if (rc == 0 && t->ntokens < 256)
        rc = die(path, 0, "fewer than 256 tokens: not a byte-level BPE table");
    return rc;
}

/* Builds the hash table; fails on a duplicate token (ranks must be a
 * bijection for BPE to be well defined). */
static int build_slots(struct table *t, const char *path)
{
    t->bits = 1;
    while ((1u << t->bits) < 2 * t->ntokens)
        t->bits++;
    size_t nslots = (size_t)1 << t->bits;
    t->slots = calloc(nslots, sizeof(uint32_t));
    if (!t->slots)
        return die(path, 0, "out of memory");
    for (uint32_t r = 0; r < t->ntokens; r++) {
        const unsigned char *p = t->bytes + t->off[r];
        size_t n = t->off[r + 1] - t->off[r];
        size_t i = (size_t)(gw_tok_hash(p, n) >> (64 - t->bits));
        while (t->slots[i]) {
            uint32_t o = t->slots[i] - 1;
            if (t->off[o + 1] - t->off[o] == n && memcmp(t->bytes + t->off[o], p, n) == 0)
                return die(path, (long)r + 1, "duplicate token");
            i = (i + 1) & (nslots - 1);
        }
        t->slots[i] = r + 1;
    }
    return 0;
}

static void emit_u32(FILE *out, const char *type_name, const uint32_t *v, size_t n)
{
    fprintf(out, "static const uint32_t %s[%zu] = {", type_name, n);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%u,", i % 16 ? "" : "\n", v[i]);
    fprintf(out, "\n};\n\n");
}

static void emit_table(FILE *out, const struct table *t)
{
    fprintf(out, "static const unsigned char %s_bytes[] =", t->name);
    for (size_t i = 0; i < t->nbytes; i++) {
        if (i % 24 == 0)
            fputs(i ? "\"\n    \"" : "\n    \"", out);
        int c = t->bytes[i];
        /* octal escapes always 3 digits, so a following digit is never
         * taken into the escape; '?' escaped against trigraphs */
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '?')
            fputc(c, out);
        else
            fprintf(out, "\\%03o", c);
    }
    fprintf(out, "\";\n\n");
    char name[64];
    snprintf(name, sizeof name, "%s_off", t->name);
    emit_u32(out, name, t->off, (size_t)t->ntokens + 1);
    snprintf(name, sizeof name, "%s_slots", t->name);
    emit_u32(out, name, t->slots, (size_t)1 << t->bits);
    fprintf(out,
            "const struct gw_tok_table gw_tok_table_%s = {\n"
            "    .name = \"%s\",\n"
            "    .ntokens = %u,\n"
            "    .bits = %u,\n"
            "    .maxlen = %u,\n"
            "    .bytes = %s_bytes,\n"
            "    .off = %s_off,\n"
            "    .slots = %s_slots,\n"
            "};\n\n",
            t->name, t->name, t->ntokens, t->bits, t->maxlen, t->name, t->name, t->name);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s SOURCE OUT.c cl100k_base.tiktoken o200k_base.tiktoken\n",
                argv[0]);
        return 2;
    }
    for (const char *s = argv[1]; *s; s++) {
        if (*s == '"' || *s == '\\' || *s < 0x20) {
            fprintf(stderr, "tokenizer-gen: SOURCE must be plain text\n");
            return 2;
        }
    }
    struct table t[2] = {{.name = "cl100k_base"}, {.name = "o200k_base"}};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        rc = load(&t[i], argv[3 + i]);
        if (rc == 0)
            rc = build_slots(&t[i], argv[3 + i]);
    }
    if (rc == 0) {
        size_t n = strlen(argv[2]);
        char *tmp = malloc(n + 5);
        if (!tmp)
            return 1;
        memcpy(tmp, argv[2], n);
        memcpy(tmp + n, ".tmp", 5);
        FILE *out = fopen(tmp, "w");
        if (!out) {
            fprintf(stderr, "tokenizer-gen: %s: %s\n", tmp, strerror(errno));
            rc = -1;
        } else {
            fprintf(out,
                    "/* Generated by common/tokenizer/gen.c from %s (cl100k_base.tiktoken,\n"
                    " * o200k_base.tiktoken); do not edit. See docs/tokenizer.md. */\n"
                    "#include \"tokenizer-int.h\"\n\n"
                    "const char gw_tok_data_source[] = \"%s\";\n\n",
                    argv[1], argv[1]);
            for (int i = 0; i < 2; i++)
                emit_table(out, &t[i]);
            if (ferror(out) | fclose(out)) {
                fprintf(stderr, "tokenizer-gen: %s: write error\n", tmp);
                rc = -1;
            } else if (rename(tmp, argv[2]) != 0) {
                fprintf(stderr, "tokenizer-gen: %s: %s\n", argv[2], strerror(errno));
                rc = -1;
            }
        }
        if (rc != 0)
            remove(tmp);
        free(tmp);
    }
    for (int i = 0; i < 2; i++) {
        free(t[i].bytes);
        free(t[i].off);
        free(t[i].slots);
    }
    return rc == 0 ? 0 : 1;
}
