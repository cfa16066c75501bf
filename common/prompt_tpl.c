/* Prompt template documents (prompt_tpl.h): plain text, JSON or YAML in;
 * the checked canonical object out; YAML back out for show and diff.
 *
 * YAML is read with libyaml's document API and mapped onto JSON values the
 * way YAML 1.2's core schema does for plain scalars (null, true/false,
 * numbers in JSON's syntax; everything else a string); quoted and block
 * scalars are always strings. Aliases are followed under a node budget, so a
 * "billion laughs" document is refused instead of expanded. The YAML
 * written back uses only what this reader maps to the same values: block
 * literals for multi-line text, double-quoted strings with escapes for
 * anything a block cannot carry, plain scalars only where they read back
 * as the same string. */
#include "prompt_tpl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "buf.h"
#include "template.h"

#define MAX_DEPTH 32
#define MAX_NODES 20000

/* ---- formats --------------------------------------------------------- */

int gw_ptpl_format_parse(const char *name, enum gw_ptpl_format *out)
{
    if (strcmp(name, "text") == 0)
        *out = GW_PTPL_TEXT;
    else if (strcmp(name, "json") == 0)
        *out = GW_PTPL_JSON;
    else if (strcmp(name, "yaml") == 0)
        *out = GW_PTPL_YAML;
    else
        return -1;
    return 0;
}

const char *gw_ptpl_format_name(enum gw_ptpl_format f)
{
    return f == GW_PTPL_JSON ? "json" : f == GW_PTPL_YAML ? "yaml" : "text";
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

enum gw_ptpl_format gw_ptpl_format_for_file(const char *file_name)
{
    if (!file_name)
        return GW_PTPL_TEXT;
    if (ends_with(file_name, ".json"))
        return GW_PTPL_JSON;
    if (ends_with(file_name, ".yaml") || ends_with(file_name, ".yml"))
        return GW_PTPL_YAML;
    return GW_PTPL_TEXT;
}

/* ---- UTF-8 ----------------------------------------------------------- */

/* Decodes the character at s[*i]: its code point, *i advanced past it; or
 * -1 (*i unchanged) when the bytes there are not UTF-8. */
static long utf8_next(const unsigned char *s, size_t len, size_t *i)
{
    unsigned char c = s[*i];
    long cp;
    int n;
    if (c < 0x80) {
        (*i)++;
        return c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        cp = c & 0x1F;
        n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        cp = c & 0x0F;
        n = 2;
    } else if (c >= 0xF0 && c <= 0xF4) {
        cp = c & 0x07;
        n = 3;
    } else {
        return -1;
    }
    for (int k = 1; k <= n; k++) {
        if (*i + (size_t)k >= len || (s[*i + (size_t)k] & 0xC0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[*i + (size_t)k] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *i += (size_t)n + 1;
    return cp;
}

int gw_ptpl_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        long cp = utf8_next(u, len, &i);
        if (cp <= 0) /* malformed, or NUL */
            return 0;
    }
    return 1;
}

/* ---- YAML -> JSON ---------------------------------------------------- */

struct yconv {
    yaml_document_t *doc;
    int budget;
    char *err;
    size_t errlen;
};

static cJSON *yfail(struct yconv *y, const yaml_node_t *n, const char *what)
{
    snprintf(y->err, y->errlen, "line %lu: %s", n ? (unsigned long)n->start_mark.line + 1 : 0UL,
             what);
    return NULL;
}

/* JSON's number syntax: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int json_number_syntax(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return 0;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return 0;
    }
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    return i == n;
}

static int one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const trues[] = {"true", "True", "TRUE", NULL};
static const char *const falses[] = {"false", "False", "FALSE", NULL};

/* What a plain scalar means: null, a bool, a number, else a string. */
static cJSON *plain_scalar(const char *s, size_t n)
{
    if (one_of(s, nulls))
        return cJSON_CreateNull();
    if (one_of(s, trues))
        return cJSON_CreateTrue();
    if (one_of(s, falses))
        return cJSON_CreateFalse();
    if (json_number_syntax(s, n)) {
        double d = strtod(s, NULL);
        if (isfinite(d))
            return cJSON_CreateNumber(d);
    }
    return cJSON_CreateString(s);
}

static cJSON *ynode(struct yconv *y, yaml_node_t *n, int depth)
{
    if (!n)
        return yfail(y, NULL, "malformed document");
    if (depth > MAX_DEPTH)
        return yfail(y, n, "nested too deeply");
    if (--y->budget < 0)
        return yfail(y, n, "too many values (aliases expand to more than 20000)");
    if (n->type == YAML_SCALAR_NODE) {
        const char *s = (const char *)n->data.scalar.value;
        size_t len = n->data.scalar.length;
        if (strlen(s) != len)
            return yfail(y, n, "a NUL character in a value");
        return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(s, len)
                                                               : cJSON_CreateString(s);
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        cJSON *arr = cJSON_CreateArray();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            cJSON *v = ynode(y, yaml_document_get_node(y->doc, *it), depth + 1);
            if (!v) {
                cJSON_Delete(arr);
                return NULL;
            }
            cJSON_AddItemToArray(arr, v);
        }
        return arr;
    }
    if (n->type == YAML_MAPPING_NODE) {
        cJSON *obj = cJSON_CreateObject();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
            if (!k || k->type != YAML_SCALAR_NODE) {
                cJSON_Delete(obj);
                return yfail(y, k ? k : n, "a mapping key must be a plain name");
            }
            const char *name = (const char *)k->data.scalar.value;
            if (strlen(name) != k->data.scalar.length) {
                cJSON_Delete(obj);
                return yfail(y, k, "a NUL character in a key");
            }
            if (cJSON_GetObjectItemCaseSensitive(obj, name)) {
                char what[120];
                snprintf(what, sizeof what, "key '%.60s' given twice", name);
                cJSON_Delete(obj);
                return yfail(y, k, what);
            }
            cJSON *v = ynode(y, yaml_document_get_node(y->doc, p->value), depth + 1);
            if (!v) {
                cJSON_Delete(obj);
                return NULL;
            }
            cJSON_AddItemToObject(obj, name, v);
        }
        return obj;
    }
    return yfail(y, n, "empty document");
}

static cJSON *from_yaml(const char *src, size_t len, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    cJSON *out = NULL;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)src, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "line %lu: %s", (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "not valid YAML");
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        snprintf(err, errlen, "the document is empty");
    } else {
        struct yconv y = {&doc, MAX_NODES, err, errlen};
        out = ynode(&y, root, 0);
    }
    yaml_document_delete(&doc);
    if (out) { /* a second document in the stream is a mistake, not ignored */
        yaml_document_t more;
        if (!yaml_parser_load(&parser, &more)) {
            snprintf(err, errlen, "line %lu: %s", (unsigned long)parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "not valid YAML");
            cJSON_Delete(out);
            out = NULL;
        } else {
            if (yaml_document_get_root_node(&more)) {
                snprintf(err, errlen, "more than one YAML document ('---')");
                cJSON_Delete(out);
                out = NULL;
            }
            yaml_document_delete(&more);
        }
    }
    yaml_parser_delete(&parser);
    return out;
}

/* ---- checks ------------------------------------------------------------ */

struct used {
    char names[GW_PTPL_MAX_VARIABLES][GW_TPL_MAX_NAME + 1];
    int n;
};

static int used_index(const struct used *u, const char *name, size_t len)
{
    for (int i = 0; i < u->n; i++)
        if (strlen(u->names[i]) == len && memcmp(u->names[i], name, len) == 0)
            return i;
    return -1;
}

static int add_used(const char *name, size_t len, void *arg)
{
    struct used *u = arg;
    if (used_index(u, name, len) >= 0)
        return 0;
    if (u->n == GW_PTPL_MAX_VARIABLES)
        return 1;
    memcpy(u->names[u->n], name, len);
    u->names[u->n][len] = '\0';
    u->n++;
    return 0;
}

/* A text with placeholders at path: its variables are added to u. */
static int check_text(const char *path, const char *s, struct used *u, char *err, size_t errlen)
{
    struct gw_tpl_error te;
    int rc = gw_tpl_scan(s, strlen(s), add_used, u, &te);
    if (rc == -1)
        snprintf(err, errlen, "%s: %s", path, te.msg);
    else if (rc != 0)
        snprintf(err, errlen, "%s: more than %d variables", path, GW_PTPL_MAX_VARIABLES);
    return rc == 0 ? 0 : -1;
}

static const char *const members[] = {"description", "model",  "force_model", "params",
                                      "variables",   "system", "messages",    NULL};
static const char *const roles[] = {"system", "developer", "user", "assistant", NULL};
static const char *const request_only[] = {"model",  "messages", "stream", "stream_options",
                                           "prompt", "inputs",   NULL};
static const char *const numeric[] = {
    "max_tokens", "max_completion_tokens", "temperature",       "top_p", "n",
    "seed",       "presence_penalty",      "frequency_penalty", NULL};

static int check_params(const cJSON *p, cJSON *out, char *err, size_t errlen)
{
    if (!cJSON_IsObject(p)) {
        snprintf(err, errlen, "params: must be a mapping of request parameters");
        return -1;
    }
    cJSON *o = cJSON_AddObjectToObject(out, "params");
    for (const cJSON *k = p->child; k; k = k->next) {
        if (!gw_tpl_name_valid(k->string, strlen(k->string))) {
            snprintf(err, errlen, "params: '%.60s' is not a request parameter name", k->string);
            return -1;
        }
        if (one_of(k->string, request_only)) {
            snprintf(err, errlen, "params.%.60s: set by the request, not by a template%s",
                     k->string,
                     strcmp(k->string, "model") == 0 ? " (use the top-level 'model')" : "");
            return -1;
        }
        if (one_of(k->string, numeric) && !cJSON_IsNumber(k)) {
            snprintf(err, errlen, "params.%.60s: must be a number", k->string);
            return -1;
        }
        cJSON_AddItemToObject(o, k->string, cJSON_Duplicate(k, 1));
    }
    return 0;
}

static int check_messages(const cJSON *m, cJSON *out, struct used *u, char *err, size_t errlen)
{
    if (!cJSON_IsArray(m)) {
        snprintf(err, errlen, "messages: must be a list of {role, content}");
        return -1;
    }
    if (cJSON_GetArraySize(m) > GW_PTPL_MAX_MESSAGES) {
        snprintf(err, errlen, "messages: more than %d messages", GW_PTPL_MAX_MESSAGES);
        return -1;
    }
    cJSON *arr = cJSON_AddArrayToObject(out, "messages");
    int i = 0;
    char path[64];
    for (const cJSON *it = m->child; it; it = it->next, i++) {
        if (!cJSON_IsObject(it)) {
            snprintf(err, errlen, "messages[%d]: must be a mapping with role and content", i);
            return -1;
        }
        for (const cJSON *k = it->child; k; k = k->next)
            if (strcmp(k->string, "role") != 0 && strcmp(k->string, "content") != 0) {
                snprintf(err, errlen, "messages[%d].%.60s: unknown key (role, content)", i,
                         k->string);
                return -1;
            }
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsString(role) || !one_of(role->valuestring, roles)) {
            snprintf(err, errlen,
                     "messages[%d].role: must be one of system, developer, user, assistant", i);
            return -1;
        }
        if (!cJSON_IsString(content)) {
            snprintf(err, errlen, "messages[%d].content: must be a string", i);
            return -1;
        }
        snprintf(path, sizeof path, "messages[%d].content", i);
        if (check_text(path, content->valuestring, u, err, errlen) != 0)
            return -1;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", role->valuestring);
        cJSON_AddStringToObject(o, "content", content->valuestring);
        cJSON_AddItemToArray(arr, o);
    }
    return 0;
}

/* The declared variables against those used; the canonical list into out. */
static int check_variables(const cJSON *decl, const struct used *u, cJSON *out, char *err,
                           size_t errlen)
{
    cJSON *arr = cJSON_CreateArray();
    cJSON_AddItemToObject(out, "variables", arr);
    if (!decl || cJSON_IsNull(decl)) {
        for (int i = 0; i < u->n; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(u->names[i]));
        return 0;
    }
    if (!cJSON_IsArray(decl)) {
        snprintf(err, errlen, "variables: must be a list of names");
        return -1;
    }
    struct used d = {.n = 0};
    int i = 0;
    for (const cJSON *v = decl->child; v; v = v->next, i++) {
        if (!cJSON_IsString(v) || !gw_tpl_name_valid(v->valuestring, strlen(v->valuestring))) {
            snprintf(err, errlen,
                     "variables[%d]: must be a name of letters, digits, _ . - (not starting "
                     "with a digit), at most %d bytes",
                     i, GW_TPL_MAX_NAME);
            return -1;
        }
        if (used_index(&d, v->valuestring, strlen(v->valuestring)) >= 0) {
            snprintf(err, errlen, "variables[%d]: '%s' is listed twice", i, v->valuestring);
            return -1;
        }
        if (add_used(v->valuestring, strlen(v->valuestring), &d) != 0) {
            snprintf(err, errlen, "variables: more than %d", GW_PTPL_MAX_VARIABLES);
            return -1;
        }
        if (used_index(u, v->valuestring, strlen(v->valuestring)) < 0) {
            snprintf(err, errlen, "variables: '%s' is declared but no text uses {{%s}}",
                     v->valuestring, v->valuestring);
            return -1;
        }
        cJSON_AddItemToArray(arr, cJSON_CreateString(v->valuestring));
    }
    for (int k = 0; k < u->n; k++)
        if (used_index(&d, u->names[k], strlen(u->names[k])) < 0) {
            snprintf(err, errlen, "{{%s}} is used but not declared in variables", u->names[k]);
            return -1;
        }
    return 0;
}

cJSON *gw_ptpl_check(const cJSON *tpl, char *err, size_t errlen)
{
    if (!cJSON_IsObject(tpl)) {
        snprintf(err, errlen,
                 "a template must be a mapping (system, messages, model, params, "
                 "variables, ...) or plain text");
        return NULL;
    }
    for (const cJSON *k = tpl->child; k; k = k->next)
        if (!one_of(k->string, members)) {
            snprintf(err, errlen,
                     "%.60s: unknown key (description, model, force_model, params, variables, "
                     "system, messages)",
                     k->string);
            return NULL;
        }
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(tpl, "description");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tpl, "model");
    const cJSON *force = cJSON_GetObjectItemCaseSensitive(tpl, "force_model");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(tpl, "params");
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(tpl, "variables");
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(tpl, "system");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(tpl, "messages");
    struct used *u = calloc(1, sizeof *u);
    cJSON *out = cJSON_CreateObject();
    if (!u || !out)
        goto oom;
    if (desc && !cJSON_IsNull(desc)) {
        if (!cJSON_IsString(desc)) {
            snprintf(err, errlen, "description: must be a string");
            goto bad;
        }
        cJSON_AddStringToObject(out, "description", desc->valuestring);
    }
    if (model && !cJSON_IsNull(model)) {
        if (!cJSON_IsString(model) || !*model->valuestring) {
            snprintf(err, errlen, "model: must be a non-empty string");
            goto bad;
        }
        cJSON_AddStringToObject(out, "model", model->valuestring);
    }
    if (force && !cJSON_IsNull(force)) {
        if (!cJSON_IsBool(force)) {
            snprintf(err, errlen, "force_model: must be true or false");
            goto bad;
        }
        if (cJSON_IsTrue(force) && !cJSON_GetObjectItemCaseSensitive(out, "model")) {
            snprintf(err, errlen, "force_model: true needs a model");
            goto bad;
        }
        if (cJSON_IsTrue(force))
            cJSON_AddTrueToObject(out, "force_model");
    }
    if (params && !cJSON_IsNull(params) && check_params(params, out, err, errlen) != 0)
        goto bad;
    cJSON *body = cJSON_CreateObject(); /* system and messages, moved after variables */
    int have_text = 0;
    if (sys && !cJSON_IsNull(sys)) {
        if (!cJSON_IsString(sys)) {
            snprintf(err, errlen, "system: must be a string");
            cJSON_Delete(body);
            goto bad;
        }
        if (check_text("system", sys->valuestring, u, err, errlen) != 0) {
            cJSON_Delete(body);
            goto bad;
        }
        if (*sys->valuestring) {
            cJSON_AddStringToObject(body, "system", sys->valuestring);
            have_text = 1;
        }
    }
    if (msgs && !cJSON_IsNull(msgs)) {
        if (check_messages(msgs, body, u, err, errlen) != 0) {
            cJSON_Delete(body);
            goto bad;
        }
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(body, "messages")) > 0)
            have_text = 1;
        else
            cJSON_DeleteItemFromObjectCaseSensitive(body, "messages");
    }
    if (!have_text) {
        snprintf(err, errlen, "a template needs a non-empty system or at least one message");
        cJSON_Delete(body);
        goto bad;
    }
    if (check_variables(vars, u, out, err, errlen) != 0) {
        cJSON_Delete(body);
        goto bad;
    }
    while (body->child) {
        cJSON *it = cJSON_DetachItemViaPointer(body, body->child);
        cJSON_AddItemToObject(out, it->string, it); /* the name is copied; it stays valid */
    }
    cJSON_Delete(body);
    free(u);
    return out;
oom:
    snprintf(err, errlen, "out of memory");
bad:
    free(u);
    cJSON_Delete(out);
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What a JSON document may hold, the limits the YAML reader has too: depth,
 * values, and no key twice in an object. 0, or -1 with err set. */
static int json_limits(const cJSON *v, int depth, int *budget, char *err, size_t errlen)
{
    if (depth > MAX_DEPTH || --*budget < 0) {
        snprintf(err, errlen, "%s", depth > MAX_DEPTH ? "nested too deeply" : "too many values");
        return -1;
    }
    int n = 0;
    for (const cJSON *c = v->child; c; c = c->next, n++)
        if (json_limits(c, depth + 1, budget, err, errlen) != 0)
            return -1;
    if (!cJSON_IsObject(v) || n < 2)
        return 0;
    const char **keys = malloc((size_t)n * sizeof *keys);
    if (!keys) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int i = 0, rc = 0;
    for (const cJSON *c = v->child; c; c = c->next)
        keys[i++] = c->string;
    qsort(keys, (size_t)n, sizeof *keys, cmp_str);
    for (i = 1; i < n && rc == 0; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            snprintf(err, errlen, "key '%.60s' given twice", keys[i]);
            rc = -1;
        }
    free(keys);
    return rc;
}

cJSON *gw_ptpl_parse(const char *src, size_t len, enum gw_ptpl_format fmt, char *err, size_t errlen)
{
    if (len > GW_PTPL_MAX_SOURCE) {
        snprintf(err, errlen, "the document is larger than %d bytes", GW_PTPL_MAX_SOURCE);
        return NULL;
    }
    if (!gw_ptpl_utf8_valid(src, len)) {
        snprintf(err, errlen, "the document is not UTF-8 text (or holds a NUL byte)");
        return NULL;
    }
    cJSON *doc = NULL;
    if (fmt == GW_PTPL_TEXT) {
        size_t n = len;
        while (n > 0 && (src[n - 1] == '\n' || src[n - 1] == '\r'))
            n--;
        char *s = malloc(n + 1);
        if (!s) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        memcpy(s, src, n);
        s[n] = '\0';
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "system", s);
        free(s);
    } else if (fmt == GW_PTPL_JSON) {
        const char *end = NULL;
        doc = cJSON_ParseWithLengthOpts(src, len, &end, 0);
        if (!doc) {
            snprintf(err, errlen, "not valid JSON (error near byte %zu)",
                     (size_t)(end && end >= src ? end - src : 0));
            return NULL;
        }
        for (const char *e = end; e < src + len; e++)
            if (*e != ' ' && *e != '\t' && *e != '\r' && *e != '\n') {
                snprintf(err, errlen, "data after the JSON object (byte %zu)", (size_t)(e - src));
                cJSON_Delete(doc);
                return NULL;
            }
        int budget = MAX_NODES;
        if (json_limits(doc, 0, &budget, err, errlen) != 0) {
            cJSON_Delete(doc);
            return NULL;
        }
    } else {
        doc = from_yaml(src, len, err, errlen);
        if (!doc)
            return NULL;
    }
    cJSON *out = gw_ptpl_check(doc, err, errlen);
    cJSON_Delete(doc);
    return out;
}

/* ---- JSON -> YAML ------------------------------------------------------ */

/* A character YAML takes as it is in a block literal or a quoted string:
 * printable, and not one of YAML 1.1's extra line breaks (NEL, LS, PS) or a
 * byte-order mark. */
static int yaml_plain_char(long cp)
{
    if (cp == '\t' || (cp >= 0x20 && cp < 0x7F))
        return 1;
    if (cp < 0xA0 || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF)
        return 0;
    return 1;
}

static int put_quoted(struct gw_buf *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s);
    int rc = gw_buf_puts(b, "\"");
    for (size_t i = 0; i < len && rc == 0;) {
        size_t at = i;
        long cp = utf8_next(u, len, &i);
        if (cp < 0) { /* not UTF-8: cannot come from a checked template */
            rc |= gw_buf_printf(b, "\\x%02x", u[at]);
            i = at + 1;
        } else if (cp == '"') {
            rc |= gw_buf_puts(b, "\\\"");
        } else if (cp == '\\') {
            rc |= gw_buf_puts(b, "\\\\");
        } else if (cp == '\n') {
            rc |= gw_buf_puts(b, "\\n");
        } else if (cp == '\t') {
            rc |= gw_buf_puts(b, "\\t");
        } else if (!yaml_plain_char(cp)) {
            rc |= gw_buf_printf(b, "\\u%04lx", cp);
        } else {
            rc |= gw_buf_append(b, s + at, i - at);
        }
    }
    return rc | gw_buf_puts(b, "\"");
}

/* A string read back as itself when written plain: a name-like word that is
 * not null, a bool or a number to the reader above. */
static int plain_ok(const char *s)
{
    if (!*s || one_of(s, nulls) || one_of(s, trues) || one_of(s, falses) ||
        json_number_syntax(s, strlen(s)))
        return 0;
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.' || *p == '/'))
            return 0;
    return 1;
}

static int put_word(struct gw_buf *b, const char *s)
{
    return plain_ok(s) ? gw_buf_puts(b, s) : put_quoted(b, s);
}

/* Multi-line text that a block literal carries exactly: a line break, a
 * line with something on it, only characters YAML takes as they are. */
static int block_ok(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s);
    int newline = 0, content = 0;
    for (size_t i = 0; i < len;) {
        long cp = utf8_next(u, len, &i);
        if (cp == '\n')
            newline = 1;
        else if (cp < 0 || !yaml_plain_char(cp))
            return 0;
        else
            content = 1;
    }
    return newline && content;
}

/* A string value after "key:" at indentation ind (of the key). */
static int put_text(struct gw_buf *b, const char *s, int ind)
{
    if (!block_ok(s))
        return gw_buf_puts(b, " ") | put_quoted(b, s) | gw_buf_puts(b, "\n");
    size_t len = strlen(s), trail = 0;
    while (trail < len && s[len - 1 - trail] == '\n')
        trail++;
    const char *first = s;
    while (*first == '\n')
        first++;
    int rc = gw_buf_puts(b, " |");
    if (*first == ' ' || *first == '\t') /* else its indentation is detected */
        rc |= gw_buf_puts(b, "2");
    rc |= gw_buf_puts(b, trail == 0 ? "-\n" : trail == 1 ? "\n" : "+\n");
    const char *p = s, *end = s + len - trail; /* the lines before the trailing breaks */
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0)
            rc |= gw_buf_printf(b, "%*s", ind + 2, "") | gw_buf_append(b, p, n);
        rc |= gw_buf_puts(b, "\n");
        if (!nl)
            break;
        p = nl + 1;
    }
    for (size_t k = 1; k < trail; k++) /* kept by the "+" indicator */
        rc |= gw_buf_puts(b, "\n");
    return rc;
}

/* A params value in flow style (JSON's shapes, YAML's quoting). */
static int put_flow(struct gw_buf *b, const cJSON *v)
{
    int rc = 0;
    if (cJSON_IsString(v))
        return put_quoted(b, v->valuestring);
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        int obj = cJSON_IsObject(v);
        rc |= gw_buf_puts(b, obj ? "{" : "[");
        for (const cJSON *c = v->child; c; c = c->next) {
            if (obj) /* YAML caps an implicit key at 1024 characters: a long one is explicit */
                rc |= gw_buf_puts(b, strlen(c->string) > 200 ? "? " : "") | put_word(b, c->string) |
                      gw_buf_puts(b, ": ");
            rc |= put_flow(b, c) | gw_buf_puts(b, c->next ? ", " : "");
        }
        return rc | gw_buf_puts(b, obj ? "}" : "]");
    }
    char *t = cJSON_PrintUnformatted(v);
    if (!t)
        return -1;
    rc = gw_buf_puts(b, t);
    cJSON_free(t);
    return rc;
}

int gw_ptpl_yaml(const cJSON *tpl, struct gw_buf *out)
{
    int rc = 0;
    for (const cJSON *k = tpl ? tpl->child : NULL; k && rc == 0; k = k->next) {
        const char *name = k->string;
        if (strcmp(name, "description") == 0 || strcmp(name, "system") == 0) {
            rc |= gw_buf_printf(out, "%s:", name) | put_text(out, k->valuestring, 0);
        } else if (strcmp(name, "model") == 0) {
            rc |= gw_buf_puts(out, "model: ") | put_word(out, k->valuestring) |
                  gw_buf_puts(out, "\n");
        } else if (strcmp(name, "force_model") == 0) {
            rc |= gw_buf_printf(out, "force_model: %s\n", cJSON_IsTrue(k) ? "true" : "false");
        } else if (strcmp(name, "params") == 0) {
            rc |= gw_buf_puts(out, k->child ? "params:\n" : "params: {}\n");
            for (const cJSON *p = k->child; p; p = p->next)
                rc |= gw_buf_puts(out, "  ") | put_word(out, p->string) | gw_buf_puts(out, ": ") |
                      put_flow(out, p) | gw_buf_puts(out, "\n");
        } else if (strcmp(name, "variables") == 0) {
            rc |= gw_buf_puts(out, "variables: [");
            for (const cJSON *v = k->child; v; v = v->next)
                rc |= put_word(out, v->valuestring) | gw_buf_puts(out, v->next ? ", " : "");
            rc |= gw_buf_puts(out, "]\n");
        } else if (strcmp(name, "messages") == 0) {
            rc |= gw_buf_puts(out, "messages:\n");
            for (const cJSON *m = k->child; m; m = m->next) {
                const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
                const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
                rc |= gw_buf_puts(out, "  - role: ") | put_word(out, role->valuestring) |
                      gw_buf_puts(out, "\n    content:") | put_text(out, content->valuestring, 4);
            }
        }
    }
    return rc ? -1 : 0;
}
