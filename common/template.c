/* The {{variable}} scanner and renderer (template.h). One tokenizer, next(),
 * walks the text as literal runs, `{{{{` escapes and placeholders; scan and
 * render are two loops over it, so they cannot disagree about what a text
 * means. Linear in the text's length. */
#include "template.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"

enum tok { T_END, T_TEXT, T_OPEN_LITERAL, T_VAR, T_ERR };

struct cursor {
    const char *s;
    size_t len, pos;
};

static int name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int name_char(unsigned char c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

int gw_tpl_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > GW_TPL_MAX_NAME || !name_start((unsigned char)s[0]))
        return 0;
    for (size_t i = 1; i < len; i++)
        if (!name_char((unsigned char)s[i]))
            return 0;
    return 1;
}

static enum tok fail(struct gw_tpl_error *err, size_t at, const char *what)
{
    if (err) {
        err->offset = at;
        snprintf(err->msg, sizeof err->msg, "%s at byte %zu (write {{{{ for a literal {{)", what,
                 at);
    }
    return T_ERR;
}

/* The next token from c->pos: a literal run or a placeholder's name as
 * [*a, *b), or the `{{{{` escape. */
static enum tok next(struct cursor *c, size_t *a, size_t *b, struct gw_tpl_error *err)
{
    const char *s = c->s;
    size_t n = c->len, i = c->pos;
    if (i >= n)
        return T_END;
    if (s[i] == '{' && i + 1 < n && s[i + 1] == '{') {
        if (i + 3 < n && s[i + 2] == '{' && s[i + 3] == '{') {
            c->pos = i + 4;
            return T_OPEN_LITERAL;
        }
        if (i + 2 < n && s[i + 2] == '{') { /* "{{{x}}}": the first brace is text */
            *a = i;
            *b = c->pos = i + 1;
            return T_TEXT;
        }
        size_t j = i + 2;
        while (j < n && (s[j] == ' ' || s[j] == '\t'))
            j++;
        size_t start = j;
        if (j >= n || !name_start((unsigned char)s[j]))
            return fail(err, i, "'{{' not followed by a variable name");
        while (j < n && name_char((unsigned char)s[j]))
            j++;
        size_t end = j;
        if (end - start > GW_TPL_MAX_NAME)
            return fail(err, i, "variable name longer than 64 bytes");
        while (j < n && (s[j] == ' ' || s[j] == '\t'))
            j++;
        if (j + 1 >= n || s[j] != '}' || s[j + 1] != '}')
            return fail(err, i, "'{{' not closed by '}}' after the variable name");
        *a = start;
        *b = end;
        c->pos = j + 2;
        return T_VAR;
    }
    /* a literal run up to the next "{{" */
    size_t k = i + 1;
    for (;;) {
        const char *p = k < n ? memchr(s + k, '{', n - k) : NULL;
        if (!p) {
            k = n;
            break;
        }
        k = (size_t)(p - s);
        if (k + 1 < n && s[k + 1] == '{')
            break;
        k++;
    }
    *a = i;
    *b = c->pos = k;
    return T_TEXT;
}

int gw_tpl_scan(const char *text, size_t len, gw_tpl_var_fn fn, void *arg, struct gw_tpl_error *err)
{
    struct cursor c = {text, len, 0};
    size_t a = 0, b = 0;
    for (;;) {
        switch (next(&c, &a, &b, err)) {
        case T_END:
            return 0;
        case T_ERR:
            return -1;
        case T_VAR:
            if (fn) {
                int rc = fn(text + a, b - a, arg);
                if (rc != 0)
                    return rc;
            }
            break;
        default:
            break;
        }
    }
}

int gw_tpl_render(const char *text, size_t len, gw_tpl_lookup_fn lookup, void *arg,
                  struct gw_buf *out, struct gw_tpl_error *err)
{
    struct cursor c = {text, len, 0};
    size_t a = 0, b = 0, vlen = 0;
    const char *v;
    for (;;) {
        switch (next(&c, &a, &b, err)) {
        case T_END:
            return 0;
        case T_ERR:
            return -1;
        case T_TEXT:
            if (gw_buf_append(out, text + a, b - a) != 0)
                return -2;
            break;
        case T_OPEN_LITERAL:
            if (gw_buf_append(out, "{{", 2) != 0)
                return -2;
            break;
        case T_VAR:
            v = lookup ? lookup(text + a, b - a, &vlen, arg) : NULL;
            if (!v) {
                if (err) {
                    err->offset = a;
                    snprintf(err->msg, sizeof err->msg, "no value for variable '%.*s'",
                             (int)(b - a), text + a);
                }
                return -1;
            }
            if (gw_buf_append(out, v, vlen) != 0)
                return -2;
            break;
        }
    }
}
