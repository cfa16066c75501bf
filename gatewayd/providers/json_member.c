/* The top-level member scanner (see json_member.h). */
#include "json_member.h"

#include <string.h>

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* p[i] is a quote: returns the index after the closing quote, or 0 on a
 * malformed string; *escaped tells whether it held a backslash. */
static size_t skip_string(const char *p, size_t n, size_t i, int *escaped)
{
    *escaped = 0;
    for (i++; i < n; i++) {
        if (p[i] == '\\') {
            *escaped = 1;
            i++;
        } else if (p[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

/* A value of any kind starting at p[i]: returns the index after it, or 0. */
static size_t skip_value(const char *p, size_t n, size_t i)
{
    int esc;
    if (i >= n)
        return 0;
    if (p[i] == '"')
        return skip_string(p, n, i, &esc);
    if (p[i] != '{' && p[i] != '[') { /* number, true, false, null */
        while (i < n && !strchr(",}] \t\r\n", p[i]))
            i++;
        return i;
    }
    long depth = 0;
    while (i < n) {
        char c = p[i];
        if (c == '"') {
            if (!(i = skip_string(p, n, i, &esc)))
                return 0;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        i++;
        if (depth == 0)
            return i;
    }
    return 0;
}

int gw_json_member(const char *p, size_t n, const char *key, struct gw_json_member *m)
{
    int found = 0, esc;
    long prev_sep = -1;
    size_t klen = strlen(key);
    size_t i = skip_ws(p, n, 0);
    if (i >= n || p[i] != '{')
        return -1;
    m->open = (long)i;
    i = skip_ws(p, n, i + 1);
    if (i < n && p[i] == '}')
        return 1; /* no members */
    for (;;) {
        if (i >= n || p[i] != '"')
            return -1;
        size_t k = i, key_end = skip_string(p, n, i, &esc);
        if (!key_end || esc)
            return -1;
        int is_key = key_end - k == klen + 2 && memcmp(p + k + 1, key, klen) == 0;
        i = skip_ws(p, n, key_end);
        if (i >= n || p[i] != ':')
            return -1;
        i = skip_ws(p, n, i + 1);
        size_t val = i, val_end = skip_value(p, n, i);
        if (!val_end)
            return -1;
        if (is_key) {
            if (found)
                return -1;
            found = 1;
            m->key_start = (long)k;
            m->val_start = (long)val;
            m->val_end = (long)val_end;
            m->prev_sep = prev_sep;
            m->next_sep = -1;
        }
        i = skip_ws(p, n, val_end);
        if (i < n && p[i] == ',') {
            if (is_key)
                m->next_sep = (long)i;
            prev_sep = (long)i;
            i = skip_ws(p, n, i + 1);
            continue;
        }
        if (i < n && p[i] == '}')
            break;
        return -1;
    }
    return found ? 0 : 1;
}
