/*
 * gwctl/output.c — owns what gwctl prints on stdout: the human formats of JSON
 * values, aligned tables, "key: value" blocks, the per-command views of a
 * daemon result, and the one-line JSON of --json mode.
 *
 * Views are declarative where they can be: a view is a list of columns
 * (title, JSON member, format), so a new field is one line. Every string that
 * came from the daemon goes through gwctl_format, which replaces control
 * characters, so a key name cannot move the operator's cursor or change the
 * terminal's colours.
 */
#include "output.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("gwctl: out of memory\n", stderr);
        exit(GWCTL_EXIT_PROTOCOL);
    }
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fputs("gwctl: out of memory\n", stderr);
        exit(GWCTL_EXIT_PROTOCOL);
    }
    return s;
}

/* Copy of s with C0 controls and DEL replaced by '?'. */
static char *sanitized(const char *s)
{
    char *r = xstrdup(s);
    for (char *p = r; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return r;
}

/* Columns a string takes on a terminal: UTF-8 code points, close enough for
 * names and numbers. */
static size_t display_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static char *format_number(double d)
{
    if (isfinite(d) && d == floor(d) && fabs(d) < 1e15)
        return xprintf("%.0f", d);
    return xprintf("%g", d);
}

static char *format_usd(double d)
{
    char *s = xprintf("%.6f", d);
    /* Trim trailing zeros down to two decimals: 12.500000 -> 12.50. */
    char *dot = strchr(s, '.');
    if (dot) {
        char *end = s + strlen(s) - 1;
        while (end > dot + 2 && *end == '0')
            *end-- = '\0';
    }
    return s;
}

char *gwctl_format(const cJSON *v, enum gwctl_fmt fmt, const char *null_text)
{
    if (!v || cJSON_IsNull(v))
        return xstrdup(null_text ? null_text : "-");

    switch (fmt) {
    case GWCTL_FMT_TIME:
        if (cJSON_IsNumber(v)) {
            time_t t = (time_t)v->valuedouble;
            struct tm tm;
            char buf[32];
            if (gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm))
                return xstrdup(buf);
        }
        break;
    case GWCTL_FMT_USD:
        if (cJSON_IsNumber(v))
            return format_usd(v->valuedouble);
        break;
    case GWCTL_FMT_COST:
        if (cJSON_IsNumber(v))
            return xprintf("%.6f", v->valuedouble);
        break;
    case GWCTL_FMT_BOOL:
        if (cJSON_IsBool(v))
            return xstrdup(cJSON_IsTrue(v) ? "yes" : "no");
        break;
    case GWCTL_FMT_LIST:
        if (cJSON_IsArray(v)) {
            char *r = xstrdup("");
            size_t len = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, v)
            {
                char *one = gwctl_format(e, GWCTL_FMT_TEXT, NULL);
                size_t n = strlen(one);
                r = xrealloc(r, len + n + 3);
                if (len) {
                    memcpy(r + len, ", ", 2);
                    len += 2;
                }
                memcpy(r + len, one, n + 1);
                len += n;
                free(one);
            }
            if (len == 0) {
                free(r);
                return xstrdup("(none)");
            }
            return r;
        }
        break;
    case GWCTL_FMT_INT:
    case GWCTL_FMT_TEXT:
        break;
    }

    /* Anything else, or a value of an unexpected type: show what it is. */
    if (cJSON_IsString(v))
        return sanitized(v->valuestring);
    if (cJSON_IsNumber(v))
        return format_number(v->valuedouble);
    if (cJSON_IsBool(v))
        return xstrdup(cJSON_IsTrue(v) ? "true" : "false");
    char *json = cJSON_PrintUnformatted(v);
    char *r = sanitized(json ? json : "?");
    free(json);
    return r;
}

static bool right_aligned(enum gwctl_fmt fmt)
{
    return fmt == GWCTL_FMT_INT || fmt == GWCTL_FMT_COST || fmt == GWCTL_FMT_USD;
}

static void put_padded(FILE *out, const char *s, size_t width, bool right, bool last)
{
    size_t w = display_width(s);
    size_t pad = w < width ? width - w : 0;
    if (right)
        fprintf(out, "%*s", (int)pad, "");
    fputs(s, out);
    if (!right && !last)
        fprintf(out, "%*s", (int)pad, "");
}

void gwctl_print_table(FILE *out, const struct gwctl_col *cols, size_t ncols, const cJSON *rows,
                       const char *empty, const cJSON *totals, const char *total_label)
{
    size_t nrows = cJSON_IsArray(rows) ? (size_t)cJSON_GetArraySize(rows) : 0;
    if (nrows == 0 && empty) {
        fprintf(out, "%s\n", empty);
        return;
    }
    size_t nlines = 1 + nrows + (totals ? 1 : 0);
    char **cell = xrealloc(NULL, nlines * ncols * sizeof *cell);
    size_t *width = xrealloc(NULL, ncols * sizeof *width);

    for (size_t c = 0; c < ncols; c++)
        cell[c] = xstrdup(cols[c].title);
    size_t line = 1;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        for (size_t c = 0; c < ncols; c++)
            cell[line * ncols + c] = gwctl_format(
                cJSON_GetObjectItemCaseSensitive(row, cols[c].key), cols[c].fmt, cols[c].null_text);
        line++;
    }
    if (totals) {
        for (size_t c = 0; c < ncols; c++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(totals, cols[c].key);
            if (c == 0)
                cell[line * ncols] = xstrdup(total_label ? total_label : "TOTAL");
            else if (v)
                cell[line * ncols + c] = gwctl_format(v, cols[c].fmt, cols[c].null_text);
            else
                cell[line * ncols + c] = xstrdup("");
        }
    }

    for (size_t c = 0; c < ncols; c++) {
        width[c] = 0;
        for (size_t l = 0; l < nlines; l++) {
            size_t w = display_width(cell[l * ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t l = 0; l < nlines; l++) {
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                fputs("  ", out);
            put_padded(out, cell[l * ncols + c], width[c], right_aligned(cols[c].fmt),
                       c + 1 == ncols);
            free(cell[l * ncols + c]);
        }
        fputc('\n', out);
    }
    free(cell);
    free(width);
}

void gwctl_print_fields(FILE *out, const struct gwctl_col *fields, size_t nfields, const cJSON *obj)
{
    size_t width = 0;
    for (size_t i = 0; i < nfields; i++)
        if (strlen(fields[i].title) > width)
            width = strlen(fields[i].title);
    for (size_t i = 0; i < nfields; i++) {
        char *v = gwctl_format(cJSON_GetObjectItemCaseSensitive(obj, fields[i].key), fields[i].fmt,
                               fields[i].null_text);
        fprintf(out, "%s:%*s %s\n", fields[i].title, (int)(width - strlen(fields[i].title)), "", v);
        free(v);
    }
}

/* Collects "a.b" names and values of obj, depth first. */
struct flat {
    char **name, **value;
    size_t n;
};

static void flatten(struct flat *f, const cJSON *obj, const char *prefix)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, obj)
    {
        char *raw = prefix ? xprintf("%s.%s", prefix, m->string) : xstrdup(m->string);
        char *name = sanitized(raw);
        free(raw);
        if (cJSON_IsObject(m) && m->child) {
            flatten(f, m, name);
            free(name);
            continue;
        }
        f->name = xrealloc(f->name, (f->n + 1) * sizeof *f->name);
        f->value = xrealloc(f->value, (f->n + 1) * sizeof *f->value);
        f->name[f->n] = name;
        f->value[f->n] = gwctl_format(m, cJSON_IsArray(m) ? GWCTL_FMT_LIST : GWCTL_FMT_TEXT, NULL);
        f->n++;
    }
}

void gwctl_print_flat(FILE *out, const cJSON *obj)
{
    struct flat f = {0};
    size_t width = 0;
    if (!cJSON_IsObject(obj)) {
        char *v = gwctl_format(obj, GWCTL_FMT_TEXT, NULL);
        fprintf(out, "%s\n", v);
        free(v);
        return;
    }
    flatten(&f, obj, NULL);
    for (size_t i = 0; i < f.n; i++)
        if (display_width(f.name[i]) > width)
            width = display_width(f.name[i]);
    for (size_t i = 0; i < f.n; i++) {
        fprintf(out, "%s:%*s %s\n", f.name[i], (int)(width - display_width(f.name[i])), "",
                f.value[i]);
        free(f.name[i]);
        free(f.value[i]);
    }
    free(f.name);
    free(f.value);
}

void gwctl_print_json(FILE *out, const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    if (!s) {
        fputs("gwctl: out of memory\n", stderr);
        exit(GWCTL_EXIT_PROTOCOL);
    }
    fprintf(out, "%s\n", s);
    free(s);
}

void gwctl_print_json_error(FILE *out, const char *code, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 0);
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddItemToObject(o, "error", e);
    gwctl_print_json(out, o);
    cJSON_Delete(o);
}

/* ---- views ------------------------------------------------------------ */

static const struct gwctl_col key_fields[] = {
    {"id", "id", GWCTL_FMT_TEXT, NULL},
    {"name", "name", GWCTL_FMT_TEXT, NULL},
    {"team", "team", GWCTL_FMT_TEXT, NULL},
    {"prefix", "prefix", GWCTL_FMT_TEXT, NULL},
    {"admin", "is_admin", GWCTL_FMT_BOOL, NULL},
    {"rpm", "rpm", GWCTL_FMT_INT, NULL},
    {"tpm", "tpm", GWCTL_FMT_INT, NULL},
    {"tpd", "tpd", GWCTL_FMT_INT, NULL},
    {"concurrent", "concurrent", GWCTL_FMT_INT, NULL},
    {"budget_usd", "budget_usd", GWCTL_FMT_USD, NULL},
    {"budget_period", "budget_period", GWCTL_FMT_TEXT, NULL},
    {"models", "models", GWCTL_FMT_LIST, "(any)"},
    /* the key's stage switches; "default": as the config says */
    {"pii", "pii", GWCTL_FMT_BOOL, "default"},
    {"pii_entities", "pii_entities", GWCTL_FMT_LIST, "default"},
    {"output_guard", "output_guard", GWCTL_FMT_BOOL, "default"},
    {"firewall", "firewall", GWCTL_FMT_BOOL, "default"},
    {"cache", "cache", GWCTL_FMT_BOOL, "default"},
    {"cache_ttl", "cache_ttl", GWCTL_FMT_INT, "default"},
    {"cache_threshold", "cache_threshold", GWCTL_FMT_TEXT, "default"},
    {"created_at", "created_at", GWCTL_FMT_TIME, NULL},
    {"expires_at", "expires_at", GWCTL_FMT_TIME, NULL},
    {"revoked_at", "revoked_at", GWCTL_FMT_TIME, NULL},
    {"rotated_at", "rotated_at", GWCTL_FMT_TIME, NULL},
    {"previous_prefix", "previous_prefix", GWCTL_FMT_TEXT, NULL},
    {"previous_valid_until", "previous_valid_until", GWCTL_FMT_TIME, NULL},
};

static const struct gwctl_col key_columns[] = {
    {"ID", "id", GWCTL_FMT_TEXT, NULL},
    {"NAME", "name", GWCTL_FMT_TEXT, NULL},
    {"TEAM", "team", GWCTL_FMT_TEXT, NULL},
    {"PREFIX", "prefix", GWCTL_FMT_TEXT, NULL},
    {"CREATED", "created_at", GWCTL_FMT_TIME, NULL},
    {"REVOKED", "revoked_at", GWCTL_FMT_TIME, NULL},
};

static const struct gwctl_col team_fields[] = {
    {"id", "id", GWCTL_FMT_TEXT, NULL},
    {"name", "name", GWCTL_FMT_TEXT, NULL},
    {"keys", "keys", GWCTL_FMT_INT, NULL},
    {"rpm", "rpm", GWCTL_FMT_INT, NULL},
    {"tpm", "tpm", GWCTL_FMT_INT, NULL},
    {"tpd", "tpd", GWCTL_FMT_INT, NULL},
    {"concurrent", "concurrent", GWCTL_FMT_INT, NULL},
    {"budget_usd", "budget_usd", GWCTL_FMT_USD, NULL},
    {"budget_period", "budget_period", GWCTL_FMT_TEXT, NULL},
    {"models", "models", GWCTL_FMT_LIST, "(any)"},
    {"created_at", "created_at", GWCTL_FMT_TIME, NULL},
};

static const struct gwctl_col team_columns[] = {
    {"NAME", "name", GWCTL_FMT_TEXT, NULL},
    {"ID", "id", GWCTL_FMT_TEXT, NULL},
    {"KEYS", "keys", GWCTL_FMT_INT, NULL},
    {"RPM", "rpm", GWCTL_FMT_INT, NULL},
    {"TPM", "tpm", GWCTL_FMT_INT, NULL},
    {"BUDGET_USD", "budget_usd", GWCTL_FMT_USD, NULL},
    {"MODELS", "models", GWCTL_FMT_LIST, "(any)"},
    {"CREATED", "created_at", GWCTL_FMT_TIME, NULL},
};

/* The counters every usage row and the totals carry. */
static const struct gwctl_col usage_counters[] = {
    {"REQUESTS", "requests", GWCTL_FMT_INT, NULL},
    {"ERRORS", "errors", GWCTL_FMT_INT, NULL},
    {"PROMPT_TOKENS", "prompt_tokens", GWCTL_FMT_INT, NULL},
    {"COMPLETION_TOKENS", "completion_tokens", GWCTL_FMT_INT, NULL},
    {"CACHED_TOKENS", "cached_tokens", GWCTL_FMT_INT, NULL},
    {"COST_USD", "cost_usd", GWCTL_FMT_COST, NULL},
};

/* The group columns of each `--by`. */
static const struct {
    const char *by;
    struct gwctl_col cols[2];
    size_t ncols;
} usage_groups[] = {
    {"key",
     {{"KEY_ID", "key_id", GWCTL_FMT_TEXT, NULL}, {"KEY_NAME", "key_name", GWCTL_FMT_TEXT, NULL}},
     2},
    {"team", {{"TEAM", "team", GWCTL_FMT_TEXT, "(no team)"}}, 1},
    {"model", {{"MODEL", "model", GWCTL_FMT_TEXT, NULL}}, 1},
    {"day", {{"DAY", "day", GWCTL_FMT_TEXT, NULL}}, 1},
    {"prompt",
     {{"PROMPT", "prompt", GWCTL_FMT_TEXT, "(none)"},
      {"VERSION", "prompt_version", GWCTL_FMT_INT, NULL}},
     2},
};

static const cJSON *member(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

void gwctl_view_key_created(FILE *out, const cJSON *result, const cJSON *args)
{
    char *secret = gwctl_format(member(result, "key"), GWCTL_FMT_TEXT, "(no key in the reply)");
    fprintf(out, "%s\n", secret);
    fputs("This key will not be shown again: store it now.\n\n", out);
    free(secret);
    gwctl_print_fields(out, key_fields, NELEM(key_fields), result);
}

void gwctl_view_key_list(FILE *out, const cJSON *result, const cJSON *args)
{
    gwctl_print_table(out, key_columns, NELEM(key_columns), member(result, "keys"), "(no keys)",
                      NULL, NULL);
}

void gwctl_view_key_show(FILE *out, const cJSON *result, const cJSON *args)
{
    gwctl_print_fields(out, key_fields, NELEM(key_fields), member(result, "key"));
}

void gwctl_view_key_revoked(FILE *out, const cJSON *result, const cJSON *args)
{
    const cJSON *key = member(result, "key");
    char *id = gwctl_format(member(key, "id"), GWCTL_FMT_TEXT, NULL);
    char *name = gwctl_format(member(key, "name"), GWCTL_FMT_TEXT, NULL);
    char *at = gwctl_format(member(key, "revoked_at"), GWCTL_FMT_TIME, "(not set)");
    fprintf(out, "revoked key %s (%s) at %s UTC\n", id, name, at);
    free(id);
    free(name);
    free(at);
}

void gwctl_view_team_created(FILE *out, const cJSON *result, const cJSON *args)
{
    gwctl_print_fields(out, team_fields, NELEM(team_fields), member(result, "team"));
}

void gwctl_view_team_list(FILE *out, const cJSON *result, const cJSON *args)
{
    gwctl_print_table(out, team_columns, NELEM(team_columns), member(result, "teams"), "(no teams)",
                      NULL, NULL);
}

void gwctl_view_team_show(FILE *out, const cJSON *result, const cJSON *args)
{
    static const struct gwctl_col team_key_columns[] = {
        {"ID", "id", GWCTL_FMT_TEXT, NULL},
        {"NAME", "name", GWCTL_FMT_TEXT, NULL},
        {"PREFIX", "prefix", GWCTL_FMT_TEXT, NULL},
        {"CREATED", "created_at", GWCTL_FMT_TIME, NULL},
        {"REVOKED", "revoked_at", GWCTL_FMT_TIME, NULL},
    };
    gwctl_print_fields(out, team_fields, NELEM(team_fields), member(result, "team"));
    fputc('\n', out);
    gwctl_print_table(out, team_key_columns, NELEM(team_key_columns), member(result, "keys"),
                      "(no keys in this team)", NULL, NULL);
}

void gwctl_view_usage_report(FILE *out, const cJSON *result, const cJSON *args)
{
    const cJSON *by = member(result, "by");
    if (!cJSON_IsString(by))
        by = member(args, "by");
    const char *group = cJSON_IsString(by) ? by->valuestring : "key";

    struct gwctl_col cols[2 + NELEM(usage_counters)];
    size_t n = 0;
    for (size_t g = 0; g < NELEM(usage_groups); g++)
        if (strcmp(usage_groups[g].by, group) == 0)
            for (size_t c = 0; c < usage_groups[g].ncols; c++)
                cols[n++] = usage_groups[g].cols[c];
    if (n == 0) /* a grouping this gwctl does not know: show its name */
        cols[n++] = (struct gwctl_col){"GROUP", group, GWCTL_FMT_TEXT, NULL};
    for (size_t c = 0; c < NELEM(usage_counters); c++)
        cols[n++] = usage_counters[c];

    const cJSON *rows = member(result, "rows");
    const cJSON *totals = member(result, "totals");
    if (!cJSON_IsArray(rows) || cJSON_GetArraySize(rows) == 0) {
        fputs("(no usage in this period)\n", out);
        return;
    }
    gwctl_print_table(out, cols, n, rows, NULL, cJSON_IsObject(totals) ? totals : NULL, "TOTAL");
}

/* status: the daemon's counters as "name: value", then its deployments
 * and its provider keys (lists of objects) as tables. */
void gwctl_view_status(FILE *out, const cJSON *result, const cJSON *args)
{
    static const struct gwctl_col key_columns_status[] = {
        {"PROVIDER", "provider", GWCTL_FMT_TEXT, NULL},
        {"KEY", "key", GWCTL_FMT_TEXT, NULL},
        {"IN FLIGHT", "in_flight", GWCTL_FMT_INT, NULL},
        {"REQUESTS", "requests", GWCTL_FMT_INT, NULL},
        {"RPM USED", "rpm_used", GWCTL_FMT_INT, NULL},
        {"RPM", "rpm", GWCTL_FMT_INT, NULL},
        {"TPM USED", "tpm_used", GWCTL_FMT_INT, NULL},
        {"TPM", "tpm", GWCTL_FMT_INT, NULL},
        {"COOLING S", "cooling_for_s", GWCTL_FMT_INT, NULL},
        {"COOLING UNTIL", "cooling_until", GWCTL_FMT_TIME, NULL},
        {"COOLDOWNS", "cooldowns", GWCTL_FMT_INT, NULL},
    };
    static const struct gwctl_col deployment_columns[] = {
        {"MODEL", "model", GWCTL_FMT_TEXT, NULL},
        {"DEPLOYMENT", "deployment", GWCTL_FMT_TEXT, NULL},
        {"STRATEGY", "strategy", GWCTL_FMT_TEXT, NULL},
        {"STATE", "state", GWCTL_FMT_TEXT, NULL},
        {"HALF-OPEN IN S", "half_open_in_s", GWCTL_FMT_INT, NULL},
        {"IN FLIGHT", "in_flight", GWCTL_FMT_INT, NULL},
        {"MAX", "max_in_flight", GWCTL_FMT_INT, NULL},
        {"RPM USED", "rpm_used", GWCTL_FMT_INT, NULL},
        {"RPM", "rpm", GWCTL_FMT_INT, NULL},
        {"TPM USED", "tpm_used", GWCTL_FMT_INT, NULL},
        {"TPM", "tpm", GWCTL_FMT_INT, NULL},
        {"AT LIMIT", "at_limit", GWCTL_FMT_TEXT, NULL},
        {"REQUESTS", "requests", GWCTL_FMT_INT, NULL},
        {"FAILURES", "failures", GWCTL_FMT_INT, NULL},
        {"TTFB MS", "ttfb_ms", GWCTL_FMT_TEXT, NULL},
    };
    const cJSON *deps = member(result, "deployments");
    if (!cJSON_IsArray(deps)) {
        gwctl_print_flat(out, result);
        return;
    }
    cJSON *rest = cJSON_Duplicate(result, 1);
    if (!rest) {
        fputs("gwctl: out of memory\n", stderr);
        exit(GWCTL_EXIT_PROTOCOL);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(rest, "deployments");
    cJSON_DeleteItemFromObjectCaseSensitive(rest, "provider_keys");
    gwctl_print_flat(out, rest);
    cJSON_Delete(rest);
    fputc('\n', out);
    gwctl_print_table(out, deployment_columns, NELEM(deployment_columns), deps, "(no deployments)",
                      NULL, NULL);
    const cJSON *keys = member(result, "provider_keys");
    if (cJSON_IsArray(keys) && cJSON_GetArraySize(keys) > 0) {
        fputc('\n', out);
        gwctl_print_table(out, key_columns_status, NELEM(key_columns_status), keys, NULL, NULL,
                          NULL);
    }
}

void gwctl_view_reloaded(FILE *out, const cJSON *result, const cJSON *args)
{
    if (cJSON_IsTrue(member(result, "reloaded")))
        fputs("configuration reloaded\n", out);
    else
        gwctl_print_flat(out, result);
}

/* request show: the stored answer's fields, then the answer itself as the
 * client got (or would have got) it, control characters other than newline
 * and tab neutralised. */
void gwctl_view_request_show(FILE *out, const cJSON *result, const cJSON *args)
{
    static const struct gwctl_col request_fields[] = {
        {"id", "id", GWCTL_FMT_TEXT, NULL},
        {"key_id", "key_id", GWCTL_FMT_TEXT, NULL},
        {"model", "model", GWCTL_FMT_TEXT, NULL},
        {"status", "status", GWCTL_FMT_INT, NULL},
        {"created_at", "created_at", GWCTL_FMT_TIME, NULL},
        {"stream", "stream", GWCTL_FMT_BOOL, NULL},
        {"client_gone", "client_gone", GWCTL_FMT_BOOL, NULL},
        {"complete", "complete", GWCTL_FMT_BOOL, NULL},
        {"truncated", "truncated", GWCTL_FMT_BOOL, NULL},
        {"content_type", "content_type", GWCTL_FMT_TEXT, NULL},
        {"response_bytes", "response_bytes", GWCTL_FMT_INT, NULL},
    };
    const cJSON *req = member(result, "request");
    gwctl_print_fields(out, request_fields, NELEM(request_fields), req);
    const cJSON *resp = member(req, "response");
    if (!cJSON_IsString(resp))
        return;
    fputs("\n", out);
    size_t n = 0;
    for (const char *p = resp->valuestring; *p; p++, n++) {
        unsigned char c = (unsigned char)*p;
        fputc((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : c, out);
    }
    if (n && resp->valuestring[n - 1] != '\n')
        fputc('\n', out);
}
