/* The RAG chunker (chunker.h): a document cut into overlapping byte ranges
 * at the best places a window allows.
 *
 * One pass over the lines first classifies where a cut may go and how good
 * it is (a heading's line start: a hard boundary; a blank line: a paragraph;
 * a line end; a sentence end; a space), skipping the inside of ``` fences
 * for headings and paragraphs. Then a greedy walk takes, from each start,
 * the window of max_chars, ends it at the first hard boundary in it, else
 * at the best-ranked cut in its second half (the latest of that rank), else
 * at a character boundary; the next chunk starts at the cut, or, when the
 * cut was not a hard boundary, overlap_chars earlier (moved forward to a
 * word start). */
#include "chunker.h"

#include <stdlib.h>
#include <string.h>

enum cut_rank { CUT_NONE, CUT_SPACE, CUT_SENTENCE, CUT_LINE, CUT_PARA, CUT_HARD };

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* A markdown heading line: 1-6 '#' then a space (or the end); returns the
 * heading words' range, or 0. */
static int heading_at(const char *s, size_t n, size_t *w_off, size_t *w_len)
{
    size_t i = 0;
    while (i < n && i < 4 && s[i] == ' ')
        i++;
    size_t h = 0;
    while (i + h < n && s[i + h] == '#')
        h++;
    if (h == 0 || h > 6 || (i + h < n && s[i + h] != ' ' && s[i + h] != '\t'))
        return 0;
    size_t a = i + h, b = n;
    while (a < b && is_space(s[a]))
        a++;
    while (b > a && (is_space(s[b - 1]) || s[b - 1] == '#'))
        b--;
    *w_off = a;
    *w_len = b - a;
    return 1;
}

static int blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_space(s[i]))
            return 0;
    return 1;
}

int gw_chunk_is_markdown(const char *name)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    return dot && (strcmp(dot, ".md") == 0 || strcmp(dot, ".markdown") == 0 ||
                   strcmp(dot, ".mdx") == 0 || strcmp(dot, ".MD") == 0);
}

/* Moves i back to the first byte of the UTF-8 character it is inside. */
static size_t char_start(const char *t, size_t i, size_t lo)
{
    while (i > lo && ((unsigned char)t[i] & 0xC0) == 0x80)
        i--;
    return i;
}

struct heading {
    size_t line, off, len; /* line start; the words */
};

long gw_chunk_split(const char *text, size_t len, const struct gw_chunk_opts *o,
                    struct gw_chunk **out)
{
    *out = NULL;
    if (!o || o->max_chars < 16 || o->overlap_chars * 2 > o->max_chars)
        return -1;
    /* rank[i]: how good a cut just before byte i is (rank[len]: the end) */
    unsigned char *rank = calloc(len + 1, 1);
    struct heading *heads = NULL;
    size_t n_heads = 0, cap_heads = 0;
    struct gw_chunk *ch = NULL;
    size_t n_ch = 0, cap_ch = 0;
    long rc = -1;
    if (!rank)
        goto out;

    int fence = 0, prev_blank = 1;
    for (size_t ls = 0; ls < len;) {
        const char *nl = memchr(text + ls, '\n', len - ls);
        size_t le = nl ? (size_t)(nl - text) : len; /* line end (the '\n' or len) */
        size_t next = nl ? le + 1 : len;
        const char *line = text + ls;
        size_t ln = le - ls;
        size_t ws = 0;
        while (ws < ln && (line[ws] == ' ' || line[ws] == '\t'))
            ws++;
        int is_fence = o->markdown && ln - ws >= 3 && memcmp(line + ws, "```", 3) == 0;
        size_t h_off, h_len;
        if (o->markdown && !fence && !is_fence && heading_at(line, ln, &h_off, &h_len)) {
            if (ls > 0)
                rank[ls] = CUT_HARD;
            if (n_heads == cap_heads) {
                cap_heads = cap_heads ? cap_heads * 2 : 16;
                struct heading *g = realloc(heads, cap_heads * sizeof *g);
                if (!g)
                    goto out;
                heads = g;
            }
            heads[n_heads++] = (struct heading){ls, ls + h_off, h_len};
        } else if (!fence && prev_blank && !blank_line(line, ln) && ls > 0 && rank[ls] < CUT_PARA) {
            rank[ls] = CUT_PARA;
        }
        if (ls > 0 && rank[ls] < CUT_LINE)
            rank[ls] = CUT_LINE;
        if (is_fence)
            fence = !fence;
        prev_blank = blank_line(line, ln);
        /* sentence ends and spaces inside the line */
        for (size_t i = ls + 1; i < le; i++) {
            if (!is_space(text[i]) || is_space(text[i - 1]))
                continue;
            char p = text[i - 1];
            unsigned char r =
                (p == '.' || p == '!' || p == '?' || p == ';') ? CUT_SENTENCE : CUT_SPACE;
            /* the cut goes after the run of spaces: at the next word */
            size_t j = i;
            while (j < le && is_space(text[j]))
                j++;
            if (j < le && rank[j] < r)
                rank[j] = r;
        }
        ls = next;
    }
    rank[len] = CUT_HARD;

    size_t start = 0, hi = 0; /* hi: headings at or before start */
    while (start < len) {
        while (start < len && is_space(text[start]))
            start++;
        if (start >= len)
            break;
        size_t lim = start + o->max_chars < len ? start + o->max_chars : len;
        size_t end = 0;
        int hard = 0;
        for (size_t i = start + 1; i <= lim; i++)
            if (rank[i] == CUT_HARD) {
                end = i;
                hard = 1;
                break;
            }
        if (!end) {
            size_t half = start + o->max_chars / 2;
            for (int r = CUT_PARA; r >= CUT_SPACE && !end; r--)
                for (size_t i = lim; i > half; i--)
                    if (rank[i] == r) {
                        end = i;
                        break;
                    }
            if (!end)
                end = char_start(text, lim, start + 1);
            if (end <= start)
                end = lim; /* a lone multi-byte character longer than the window */
        }
        /* the chunk: trimmed */
        size_t a = start, b = end;
        while (b > a && is_space(text[b - 1]))
            b--;
        if (b > a) {
            while (hi < n_heads && heads[hi].line <= a)
                hi++;
            if (n_ch == cap_ch) {
                cap_ch = cap_ch ? cap_ch * 2 : 16;
                struct gw_chunk *g = realloc(ch, cap_ch * sizeof *g);
                if (!g)
                    goto out;
                ch = g;
            }
            ch[n_ch++] =
                (struct gw_chunk){a, b - a, hi ? heads[hi - 1].off : 0, hi ? heads[hi - 1].len : 0};
        }
        if (hard || end >= len || !o->overlap_chars) {
            start = end;
            continue;
        }
        /* overlap: back overlap_chars, then forward to a word start */
        size_t ns = end > start + o->overlap_chars ? end - o->overlap_chars : start + 1;
        while (ns < end && rank[ns] < CUT_SPACE)
            ns++;
        start = ns > start ? ns : end;
    }
    rc = (long)n_ch;
    *out = ch;
    ch = NULL;
out:
    free(ch);
    free(rank);
    free(heads);
    return rc;
}
