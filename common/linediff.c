/* Unified line diffs (linediff.h). The texts are split into lines (a line
 * keeps its '\n', so a last line without one differs from the same text
 * with one); the common head and tail are taken off, the middle is matched
 * by the classic LCS table (suffix lengths, then one forward walk that
 * prefers removals, so a changed line reads "-old" then "+new"), and the
 * edit script is cut into hunks the way diff -u does. */
#include "linediff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define MAX_CELLS (2001u * 2001u)

struct line {
    const char *p;
    size_t n; /* with its '\n', if it has one */
};

struct op {
    char kind;     /* ' ', '-', '+' */
    size_t ai, bi; /* positions in a and b before this op */
};

static size_t split(const char *s, size_t len, struct line **out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\n')
            n++;
    if (len > 0 && s[len - 1] != '\n')
        n++;
    struct line *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return (size_t)-1;
    size_t k = 0, start = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\n') {
            v[k++] = (struct line){s + start, i + 1 - start};
            start = i + 1;
        }
    if (start < len)
        v[k++] = (struct line){s + start, len - start};
    *out = v;
    return n;
}

static int same(const struct line *x, const struct line *y)
{
    return x->n == y->n && memcmp(x->p, y->p, x->n) == 0;
}

/* The edit script of A and B into ops (room for n + m); returns its length,
 * or (size_t)-1 when memory runs out. */
static size_t script(const struct line *A, size_t n, const struct line *B, size_t m, struct op *ops)
{
    size_t pre = 0, suf = 0, k = 0;
    while (pre < n && pre < m && same(&A[pre], &B[pre]))
        pre++;
    while (suf < n - pre && suf < m - pre && same(&A[n - 1 - suf], &B[m - 1 - suf]))
        suf++;
    for (size_t i = 0; i < pre; i++)
        ops[k++] = (struct op){' ', i, i};
    size_t N = n - pre - suf, M = m - pre - suf;
    const struct line *a = A + pre, *b = B + pre;
    size_t i = 0, j = 0;
    if (N > 0 && M > 0 && (N + 1) * (M + 1) <= MAX_CELLS) {
        uint32_t *L = calloc((N + 1) * (M + 1), sizeof *L); /* L[i][j]: LCS of a[i..], b[j..] */
        if (!L)
            return (size_t)-1;
#define AT(x, y) L[(x) * (M + 1) + (y)]
        for (size_t x = N; x-- > 0;)
            for (size_t y = M; y-- > 0;)
                AT(x, y) = same(&a[x], &b[y])             ? AT(x + 1, y + 1) + 1
                           : AT(x + 1, y) >= AT(x, y + 1) ? AT(x + 1, y)
                                                          : AT(x, y + 1);
        while (i < N && j < M) {
            if (same(&a[i], &b[j])) {
                ops[k++] = (struct op){' ', pre + i, pre + j};
                i++, j++;
            } else if (AT(i + 1, j) >= AT(i, j + 1)) {
                ops[k++] = (struct op){'-', pre + i, pre + j};
                i++;
            } else {
                ops[k++] = (struct op){'+', pre + i, pre + j};
                j++;
            }
        }
#undef AT
        free(L);
    }
    for (; i < N; i++)
        ops[k++] = (struct op){'-', pre + i, pre + j};
    for (; j < M; j++)
        ops[k++] = (struct op){'+', pre + i, pre + j};
    for (size_t s = 0; s < suf; s++)
        ops[k++] = (struct op){' ', n - suf + s, m - suf + s};
    return k;
}

static int range(struct gw_buf *out, char sign, size_t first, size_t count)
{
    if (count == 1)
        return gw_buf_printf(out, " %c%zu", sign, first + 1);
    return gw_buf_printf(out, " %c%zu,%zu", sign, count ? first + 1 : first, count);
}

static int put_line(struct gw_buf *out, char kind, const struct line *l)
{
    int rc = gw_buf_append(out, &kind, 1) | gw_buf_append(out, l->p, l->n);
    if (l->n == 0 || l->p[l->n - 1] != '\n')
        rc |= gw_buf_puts(out, "\n\\ No newline at end of file\n");
    return rc;
}

static int hunk(struct gw_buf *out, const struct op *ops, size_t from, size_t to,
                const struct line *A, const struct line *B)
{
    size_t olds = 0, news = 0;
    for (size_t k = from; k < to; k++) {
        olds += ops[k].kind != '+';
        news += ops[k].kind != '-';
    }
    int rc = gw_buf_puts(out, "@@") | range(out, '-', ops[from].ai, olds) |
             range(out, '+', ops[from].bi, news) | gw_buf_puts(out, " @@\n");
    for (size_t k = from; k < to; k++)
        rc |= put_line(out, ops[k].kind, ops[k].kind == '+' ? &B[ops[k].bi] : &A[ops[k].ai]);
    return rc;
}

int gw_linediff(const char *a, size_t alen, const char *b, size_t blen, int context,
                const char *a_label, const char *b_label, struct gw_buf *out)
{
    struct line *A = NULL, *B = NULL;
    struct op *ops = NULL;
    int rc = -1;
    size_t n = split(a, alen, &A), m = n == (size_t)-1 ? 0 : split(b, blen, &B);
    if (n == (size_t)-1 || m == (size_t)-1)
        goto out;
    ops = malloc((n + m ? n + m : 1) * sizeof *ops);
    size_t nops = ops ? script(A, n, B, m, ops) : (size_t)-1;
    if (nops == (size_t)-1)
        goto out;
    size_t c = context < 0 ? 0 : (size_t)context, k = 0;
    int header = 0;
    rc = 0;
    while (k < nops && rc == 0) {
        size_t first = k;
        while (first < nops && ops[first].kind == ' ')
            first++;
        if (first == nops)
            break;
        size_t last = first, j = first;
        for (; j < nops; j++) {
            if (ops[j].kind != ' ')
                last = j;
            else if (j - last > 2 * c)
                break;
        }
        size_t from = first - k > c ? first - c : k;
        size_t to = last + 1 + c < nops ? last + 1 + c : nops;
        if (!header) {
            rc |= gw_buf_printf(out, "--- %s\n+++ %s\n", a_label, b_label);
            header = 1;
        }
        rc |= hunk(out, ops, from, to, A, B);
        k = to;
    }
    rc = rc ? -1 : 0;
out:
    free(A);
    free(B);
    free(ops);
    return rc;
}
