/* A key's own stage switches (key_settings.h): what the admin protocol
 * accepts for them, how they are written to and read from the keys table,
 * and how key show prints them. One table lists the fields, in the order
 * of struct gw_key_settings and of GW_KEY_SETTINGS_COLS; the argument, the
 * column and the JSON member share their name. */
#include "key_settings.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pii.h"

enum field_kind { K_SWITCH, K_ENTITIES, K_TTL, K_THRESHOLD };

static const struct field {
    const char *name; /* argument, column and JSON member */
    enum field_kind kind;
    size_t off; /* in struct gw_key_settings */
} fields[GW_KEY_SETTINGS_NCOLS] = {
    {"pii", K_SWITCH, offsetof(struct gw_key_settings, pii)},
    {"pii_entities", K_ENTITIES, offsetof(struct gw_key_settings, pii_entities)},
    {"output_guard", K_SWITCH, offsetof(struct gw_key_settings, output_guard)},
    {"firewall", K_SWITCH, offsetof(struct gw_key_settings, firewall)},
    {"cache", K_SWITCH, offsetof(struct gw_key_settings, cache)},
    {"cache_ttl", K_TTL, offsetof(struct gw_key_settings, cache_ttl)},
    {"cache_threshold", K_THRESHOLD, offsetof(struct gw_key_settings, cache_threshold)},
};

#define INT_FIELD(s, f)    ((int *)((char *)(s) + (f)->off))
#define UINT_FIELD(s, f)   ((unsigned *)((char *)(s) + (f)->off))
#define DOUBLE_FIELD(s, f) ((double *)((char *)(s) + (f)->off))
#define CINT(s, f)         (*(const int *)((const char *)(s) + (f)->off))
#define CUINT(s, f)        (*(const unsigned *)((const char *)(s) + (f)->off))
#define CDOUBLE(s, f)      (*(const double *)((const char *)(s) + (f)->off))

static int is_default(const cJSON *v)
{
    return cJSON_IsNull(v) || (cJSON_IsString(v) && strcasecmp(v->valuestring, "default") == 0);
}

/* One entity name (or "all") into *mask. */
static int add_entity(const char *name, size_t len, unsigned *mask, char *err, size_t errlen)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf) {
        snprintf(err, errlen, "\"pii_entities\": '%.*s' is not an entity name", (int)len, name);
        return -1;
    }
    memcpy(buf, name, len);
    buf[len] = '\0';
    if (strcmp(buf, "all") == 0) {
        *mask |= GW_PII_ALL;
        return 0;
    }
    int t = gw_pii_type_from_name(buf);
    if (t < 0) {
        snprintf(err, errlen,
                 "\"pii_entities\": unknown entity '%s' (email, phone, credit_card, ssn, iban, "
                 "ip, secret, all, or default)",
                 buf);
        return -1;
    }
    if (*mask & (1u << t)) {
        snprintf(err, errlen, "\"pii_entities\": '%s' is listed twice", buf);
        return -1;
    }
    *mask |= 1u << t;
    return 0;
}

/* A list of entity names: a JSON array of strings or "a,b,c". */
static int parse_entities(const cJSON *v, unsigned *out, char *err, size_t errlen)
{
    unsigned mask = 0;
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        for (;;) {
            const char *comma = strchr(s, ',');
            size_t len = comma ? (size_t)(comma - s) : strlen(s);
            if (add_entity(s, len, &mask, err, errlen) != 0)
                return -1;
            if (!comma)
                break;
            s = comma + 1;
        }
    } else if (cJSON_IsArray(v) && v->child) {
        for (const cJSON *it = v->child; it; it = it->next) {
            if (!cJSON_IsString(it)) {
                snprintf(err, errlen, "\"pii_entities\" must hold entity names");
                return -1;
            }
            if (add_entity(it->valuestring, strlen(it->valuestring), &mask, err, errlen) != 0)
                return -1;
        }
    } else {
        snprintf(err, errlen,
                 "\"pii_entities\" must be a non-empty list of entity names, or default");
        return -1;
    }
    *out = mask;
    return 0;
}

/* A number, or the text of one (gwctl sends what the operator typed). */
static int number_of(const cJSON *v, double *out)
{
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return 0;
    }
    if (!cJSON_IsString(v) || !*v->valuestring)
        return -1;
    char *end;
    errno = 0;
    double d = strtod(v->valuestring, &end);
    if (*end || errno || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

static int parse_one(const struct field *f, const cJSON *v, struct gw_key_settings *to, char *err,
                     size_t errlen)
{
    double d;
    switch (f->kind) {
    case K_SWITCH:
        if (is_default(v))
            *INT_FIELD(to, f) = -1;
        else if (cJSON_IsBool(v))
            *INT_FIELD(to, f) = cJSON_IsTrue(v);
        else if (cJSON_IsString(v) && strcasecmp(v->valuestring, "on") == 0)
            *INT_FIELD(to, f) = 1;
        else if (cJSON_IsString(v) && strcasecmp(v->valuestring, "off") == 0)
            *INT_FIELD(to, f) = 0;
        else
            goto bad;
        return 0;
    case K_ENTITIES:
        if (is_default(v)) {
            *UINT_FIELD(to, f) = 0;
            return 0;
        }
        return parse_entities(v, UINT_FIELD(to, f), err, errlen);
    case K_TTL:
        if (is_default(v)) {
            *INT_FIELD(to, f) = -1;
            return 0;
        }
        if (number_of(v, &d) != 0 || d != floor(d) || d < 1 || d > GW_KEY_CACHE_TTL_MAX)
            goto bad;
        *INT_FIELD(to, f) = (int)d;
        return 0;
    case K_THRESHOLD:
        if (is_default(v)) {
            *DOUBLE_FIELD(to, f) = -1;
            return 0;
        }
        if (number_of(v, &d) != 0 || d <= 0 || d > 1)
            goto bad;
        *DOUBLE_FIELD(to, f) = d;
        return 0;
    }
bad:
    switch (f->kind) {
    case K_SWITCH:
        snprintf(err, errlen, "\"%s\" must be on, off or default", f->name);
        break;
    case K_TTL:
        snprintf(err, errlen, "\"%s\" must be a whole number of seconds from 1 to %d, or default",
                 f->name, GW_KEY_CACHE_TTL_MAX);
        break;
    default:
        snprintf(err, errlen,
                 "\"%s\" must be a similarity above 0 and at most 1 (e.g. 0.9), or default",
                 f->name);
    }
    return -1;
}

int gw_key_settings_parse(const cJSON *args, struct gw_key_settings_change *out, char *err,
                          size_t errlen)
{
    out->present = 0;
    out->to = GW_KEY_SETTINGS_INHERIT;
    for (size_t i = 0; i < GW_KEY_SETTINGS_NCOLS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, fields[i].name);
        if (!v)
            continue;
        if (parse_one(&fields[i], v, &out->to, err, errlen) != 0)
            return -1;
        out->present |= 1u << i;
    }
    return 0;
}

/* The entity names of mask as a JSON array, in the order of the types. */
static cJSON *entities_json(unsigned mask)
{
    cJSON *a = cJSON_CreateArray();
    for (int t = 0; a && t < GW_PII_N_TYPES; t++)
        if (mask & (1u << t))
            cJSON_AddItemToArray(a, cJSON_CreateString(gw_pii_type_name((enum gw_pii_type)t)));
    return a;
}

int gw_key_settings_store(sqlite3 *db, const char *key_id, const struct gw_key_settings_change *c)
{
    if (!c->present)
        return SQLITE_OK;
    char sql[384];
    int n = snprintf(sql, sizeof sql, "UPDATE keys SET id = id");
    for (size_t i = 0; i < GW_KEY_SETTINGS_NCOLS; i++)
        if (c->present & (1u << i))
            n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s = ?%zu", fields[i].name, i + 2);
    snprintf(sql + n, sizeof sql - (size_t)n, " WHERE id = ?1");
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    char *names = NULL;
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    for (size_t i = 0; i < GW_KEY_SETTINGS_NCOLS; i++) {
        const struct field *f = &fields[i];
        int p = (int)i + 2;
        if (!(c->present & (1u << i)))
            continue;
        switch (f->kind) {
        case K_SWITCH:
        case K_TTL:
            if (CINT(&c->to, f) >= 0)
                sqlite3_bind_int(st, p, CINT(&c->to, f));
            break;
        case K_ENTITIES:
            if (CUINT(&c->to, f)) {
                cJSON *a = entities_json(CUINT(&c->to, f));
                names = a ? cJSON_PrintUnformatted(a) : NULL;
                cJSON_Delete(a);
                if (!names) {
                    sqlite3_finalize(st);
                    return SQLITE_NOMEM;
                }
                sqlite3_bind_text(st, p, names, -1, SQLITE_STATIC);
            }
            break;
        case K_THRESHOLD:
            if (CDOUBLE(&c->to, f) >= 0)
                sqlite3_bind_double(st, p, CDOUBLE(&c->to, f));
            break;
        }
    }
    rc = sqlite3_step(st);
    int changed = sqlite3_changes(db);
    sqlite3_finalize(st);
    cJSON_free(names);
    if (rc != SQLITE_DONE)
        return sqlite3_extended_errcode(db);
    return changed == 1 ? SQLITE_OK : SQLITE_NOTFOUND;
}

/* A stored entity list back into a bit set; 0 when it cannot be read. */
static unsigned entities_from_text(const char *json)
{
    cJSON *a = json ? cJSON_Parse(json) : NULL;
    unsigned mask = 0;
    for (const cJSON *it = cJSON_IsArray(a) ? a->child : NULL; it; it = it->next) {
        int t = cJSON_IsString(it) ? gw_pii_type_from_name(it->valuestring) : -1;
        if (t < 0) {
            mask = 0;
            break;
        }
        mask |= 1u << t;
    }
    cJSON_Delete(a);
    return mask;
}

void gw_key_settings_read(sqlite3_stmt *st, int col, struct gw_key_settings *out)
{
    *out = GW_KEY_SETTINGS_INHERIT;
    for (size_t i = 0; i < GW_KEY_SETTINGS_NCOLS; i++) {
        const struct field *f = &fields[i];
        int c = col + (int)i;
        if (sqlite3_column_type(st, c) == SQLITE_NULL)
            continue;
        long long v;
        double d;
        switch (f->kind) {
        case K_SWITCH:
            v = sqlite3_column_int64(st, c);
            if (v == 0 || v == 1)
                *INT_FIELD(out, f) = (int)v;
            break;
        case K_TTL:
            v = sqlite3_column_int64(st, c);
            if (v >= 1 && v <= GW_KEY_CACHE_TTL_MAX)
                *INT_FIELD(out, f) = (int)v;
            break;
        case K_ENTITIES:
            *UINT_FIELD(out, f) = entities_from_text((const char *)sqlite3_column_text(st, c));
            break;
        case K_THRESHOLD:
            d = sqlite3_column_double(st, c);
            if (d > 0 && d <= 1)
                *DOUBLE_FIELD(out, f) = d;
            break;
        }
    }
}

void gw_key_settings_to_json(const struct gw_key_settings *s, cJSON *o)
{
    for (size_t i = 0; i < GW_KEY_SETTINGS_NCOLS; i++) {
        const struct field *f = &fields[i];
        cJSON *v = NULL;
        switch (f->kind) {
        case K_SWITCH:
            if (CINT(s, f) >= 0)
                v = cJSON_CreateBool(CINT(s, f));
            break;
        case K_TTL:
            if (CINT(s, f) >= 0)
                v = cJSON_CreateNumber(CINT(s, f));
            break;
        case K_ENTITIES:
            if (CUINT(s, f))
                v = entities_json(CUINT(s, f));
            break;
        case K_THRESHOLD:
            if (CDOUBLE(s, f) >= 0)
                v = cJSON_CreateNumber(CDOUBLE(s, f));
            break;
        }
        cJSON_AddItemToObject(o, f->name, v ? v : cJSON_CreateNull());
    }
}
