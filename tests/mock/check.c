/* Small helpers the wire-format parsers validate requests with: the refusal
 * record (struct mock_verdict), unknown-key detection (with Google's
 * snake_case / lowerCamelCase equivalence), integer ranges, base64, name
 * patterns and percent-decoding. Pure functions. */
#include "mock.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mock_fail(struct mock_verdict *v, unsigned status, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->msg, sizeof v->msg, fmt, ap);
    va_end(ap);
    v->status = status;
    v->type = type;
    return false;
}

/* snake_case → lowerCamelCase into out (size cap). */
static void mock_camel(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 1 < cap; s++) {
        if (*s == '_' && s[1] && o) {
            out[o++] = (char)toupper((unsigned char)*++s);
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

const char *mock_json_unknown(const cJSON *obj, const char *const *known, bool camel)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        char name[128];
        if (camel)
            mock_camel(it->string, name, sizeof name);
        else
            snprintf(name, sizeof name, "%s", it->string);
        size_t i;
        for (i = 0; known[i]; i++)
            if (strcmp(known[i], name) == 0)
                break;
        if (!known[i])
            return it->string;
    }
    return NULL;
}

const cJSON *mock_json_get(const cJSON *obj, const char *name, bool camel)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (v || !camel)
        return v;
    char snake[128];
    size_t o = 0;
    for (const char *s = name; *s && o + 2 < sizeof snake; s++) {
        if (isupper((unsigned char)*s)) {
            snake[o++] = '_';
            snake[o++] = (char)tolower((unsigned char)*s);
        } else {
            snake[o++] = *s;
        }
    }
    snake[o] = '\0';
    return cJSON_GetObjectItemCaseSensitive(obj, snake);
}

bool mock_json_int(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
           floor(v->valuedouble) == v->valuedouble;
}

bool mock_base64_valid(const char *s, bool url_safe)
{
    size_t n = strlen(s), pad = 0;
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '=') {
            pad++;
            continue;
        }
        if (pad) /* data after padding */
            return false;
        if (!(isalnum(ch) || ch == '+' || ch == '/' || (url_safe && (ch == '-' || ch == '_'))))
            return false;
    }
    if (pad > 2)
        return false;
    /* Google also accepts unpadded URL-safe base64. */
    return n % 4 == 0 || (url_safe && !pad && n % 4 != 1);
}

bool mock_name_valid(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (!n || n > max)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && !(extra && strchr(extra, *s)))
            return false;
    return true;
}

static int mock_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *mock_url_decode(const char *s, size_t n, bool form)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? mock_hex((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? mock_hex((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = form && s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    return out;
}
