/* The chat-completions form (r->json, from /v1/chat/completions or the
 * translation of /v1/messages) as a Gemini generateContent request body:
 * the messages here, the other fields in gemini_params.c.
 *
 *   system, developer messages  systemInstruction.parts (text), in order
 *                               (a system message later in the conversation
 *                               joins them: Gemini has one instruction)
 *   user, assistant messages    contents with role "user", "model"; text
 *                               parts (an assistant refusal as text);
 *                               consecutive same-role contents merged
 *   image_url data: URL         inlineData {mimeType, data}
 *   image_url https:// URL      fileData {fileUri, mimeType from the file
 *                               extension when it says one}: the Gemini API
 *                               fetches public and signed https URLs itself
 *   input_audio (wav, mp3)      inlineData audio/wav, audio/mp3
 *   file with file_data         inlineData (the data: URL's type)
 *   assistant tool_calls        functionCall {id, name, args (the parsed
 *                               argument object)} parts; a thought signature
 *                               carried in the id (gemini.h) goes back as
 *                               the part's thoughtSignature
 *   tool messages               user-role functionResponse {id, name (from
 *                               the assistant tool call with that id),
 *                               response {"output": the content, parsed when
 *                               it is a JSON object, else the text}}: the
 *                               key Gemini reads as the function's output
 *
 * Not sent: an image's detail and a file's name (hints without a Gemini
 * field). Refused with a 400 naming the field: message names, other roles,
 * http:// and other non-https image URLs, data: URLs without base64, audio
 * other than wav and mp3, file ids, parts other than text in system,
 * assistant and tool messages, tool call arguments that are not a JSON
 * object, a tool message whose tool_call_id no earlier assistant call has,
 * and a conversation of system messages alone. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "gemini-int.h"
#include "gemini.h"
#include "request.h"

void gw_gemini_at(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

int gw_gemini_refuse(struct gw_gemini_tx *t, const char *code, const char *param, const char *fmt,
                     ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    gw_error_respond(t->r, 400, "invalid_request_error", code, param, "'%s' %s", param, what);
    return -1;
}

int gw_gemini_cannot(struct gw_gemini_tx *t, const char *param)
{
    return gw_gemini_refuse(
        t, "unsupported_parameter", param,
        "cannot be expressed in the Gemini API of provider '%s'; leave it out for "
        "this model.",
        t->r->provider->name);
}

static cJSON *text_part(const char *s)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "text", s);
    return p;
}

/* ---- media -------------------------------------------------------------- */

static cJSON *inline_part(const char *mime, size_t mime_len, const char *data)
{
    cJSON *p = cJSON_CreateObject();
    cJSON *d = cJSON_AddObjectToObject(p, "inlineData");
    char *m = strndup(mime, mime_len);
    cJSON_AddStringToObject(d, "mimeType", m ? m : "");
    free(m);
    cJSON_AddStringToObject(d, "data", data);
    return p;
}

/* A data: URL (data:<type>[;...];base64,<data>) as inlineData. */
static cJSON *data_url(struct gw_gemini_tx *t, const char *url, const char *param)
{
    const char *mime = url + 5, *semi = strchr(mime, ';'), *b64 = strstr(mime, ";base64,");
    if (!semi || !b64 || semi == mime || memchr(mime, ',', (size_t)(semi - mime))) {
        gw_gemini_refuse(
            t, "invalid_value", param,
            "must be a base64 data: URL with a media type (data:image/png;base64,...).");
        return NULL;
    }
    return inline_part(mime, (size_t)(semi - mime), b64 + 8);
}

/* The image type of an https URL's file extension, or NULL. */
static const char *image_type(const char *url)
{
    static const char *const ext[][2] = {
        {".png", "image/png"},   {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
        {".webp", "image/webp"}, {".gif", "image/gif"},  {".heic", "image/heic"},
        {".heif", "image/heif"},
    };
    size_t end = strcspn(url, "?#");
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t n = strlen(ext[i][0]);
        if (end > n && strncasecmp(url + end - n, ext[i][0], n) == 0)
            return ext[i][1];
    }
    return NULL;
}

static cJSON *image_part(struct gw_gemini_tx *t, const cJSON *img, const char *param)
{
    const cJSON *url = cJSON_IsObject(img) ? gw_gemini_get(img, "url") : img;
    char p[160];
    gw_gemini_at(p, sizeof p, "%s%s", param, cJSON_IsObject(img) ? ".url" : "");
    if (!cJSON_IsString(url)) {
        gw_gemini_refuse(t, "invalid_type", p, "must be a string (an https or data: URL).");
        return NULL;
    }
    const char *u = url->valuestring;
    if (strncmp(u, "data:", 5) == 0)
        return data_url(t, u, p);
    if (strncasecmp(u, "https://", 8) != 0) {
        gw_gemini_refuse(
            t, "invalid_value", p,
            "must be an https or data: URL: the Gemini API of provider '%s' fetches images "
            "over https only.",
            t->r->provider->name);
        return NULL;
    }
    cJSON *part = cJSON_CreateObject();
    cJSON *fd = cJSON_AddObjectToObject(part, "fileData");
    const char *mime = image_type(u);
    if (mime)
        cJSON_AddStringToObject(fd, "mimeType", mime);
    cJSON_AddStringToObject(fd, "fileUri", u);
    return part;
}

static cJSON *audio_part(struct gw_gemini_tx *t, const cJSON *a, const char *param)
{
    const cJSON *data = gw_gemini_get(a, "data"), *fmt = gw_gemini_get(a, "format");
    char p[160];
    gw_gemini_at(p, sizeof p, "%s.data", param);
    if (!cJSON_IsString(data)) {
        gw_gemini_refuse(t, "invalid_type", p, "must be a base64 string.");
        return NULL;
    }
    gw_gemini_at(p, sizeof p, "%s.format", param);
    if (!cJSON_IsString(fmt) ||
        (strcmp(fmt->valuestring, "wav") != 0 && strcmp(fmt->valuestring, "mp3") != 0)) {
        gw_gemini_refuse(t, "invalid_value", p, "must be 'wav' or 'mp3'.");
        return NULL;
    }
    char mime[16];
    int n = snprintf(mime, sizeof mime, "audio/%s", fmt->valuestring);
    return inline_part(mime, (size_t)n, data->valuestring);
}

static cJSON *file_part(struct gw_gemini_tx *t, const cJSON *f, const char *param)
{
    const cJSON *data = gw_gemini_get(f, "file_data");
    char p[160];
    if (gw_gemini_get(f, "file_id")) {
        gw_gemini_at(p, sizeof p, "%s.file_id", param);
        gw_gemini_cannot(t, p);
        return NULL;
    }
    gw_gemini_at(p, sizeof p, "%s.file_data", param);
    if (!cJSON_IsString(data) || strncmp(data->valuestring, "data:", 5) != 0) {
        gw_gemini_refuse(t, "invalid_value", p, "must be a base64 data: URL.");
        return NULL;
    }
    return data_url(t, data->valuestring, p);
}

/* ---- message content ---------------------------------------------------- */

enum kind { K_SYSTEM, K_USER, K_MODEL, K_TOOL };

/* A message's content as parts appended to parts: text for every kind, and
 * media for user messages; for tool messages the text is gathered in *text
 * instead. Returns 0 or -1 (answered). */
static int content_parts(struct gw_gemini_tx *t, const cJSON *content, int i, enum kind kind,
                         cJSON *parts, struct gw_buf *text)
{
    char param[128];
    gw_gemini_at(param, sizeof param, "messages[%d].content", i);
    if (!content)
        return 0;
    if (cJSON_IsString(content)) {
        if (kind == K_TOOL)
            gw_buf_puts(text, content->valuestring);
        else
            cJSON_AddItemToArray(parts, text_part(content->valuestring));
        return 0;
    }
    if (!cJSON_IsArray(content))
        return gw_gemini_refuse(t, "invalid_type", param, "must be a string or an array of parts.");
    int j = 0;
    for (const cJSON *c = content->child; c; c = c->next, j++) {
        char p[160];
        gw_gemini_at(p, sizeof p, "%s[%d]", param, j);
        const cJSON *type = gw_gemini_get(c, "type");
        if (!cJSON_IsString(type))
            return gw_gemini_refuse(t, "invalid_type", p,
                                    "must be an object with a string 'type'.");
        const char *ty = type->valuestring;
        int textual = strcmp(ty, "text") == 0 || (kind == K_MODEL && strcmp(ty, "refusal") == 0);
        if (textual) {
            const cJSON *s = gw_gemini_get(c, ty);
            gw_gemini_at(p, sizeof p, "%s[%d].%s", param, j, ty);
            if (!cJSON_IsString(s))
                return gw_gemini_refuse(t, "invalid_type", p, "must be a string.");
            if (kind == K_TOOL)
                gw_buf_puts(text, s->valuestring);
            else
                cJSON_AddItemToArray(parts, text_part(s->valuestring));
            continue;
        }
        cJSON *part = NULL;
        if (kind != K_USER) {
            gw_gemini_at(p, sizeof p, "%s[%d].type", param, j);
            return gw_gemini_refuse(
                t, "unsupported_value", p,
                "is '%s'; only text parts can be sent in this message to the Gemini "
                "API.",
                ty);
        } else if (strcmp(ty, "image_url") == 0) {
            gw_gemini_at(p, sizeof p, "%s[%d].image_url", param, j);
            part = image_part(t, gw_gemini_get(c, "image_url"), p);
        } else if (strcmp(ty, "input_audio") == 0) {
            gw_gemini_at(p, sizeof p, "%s[%d].input_audio", param, j);
            part = audio_part(t, gw_gemini_get(c, "input_audio"), p);
        } else if (strcmp(ty, "file") == 0) {
            gw_gemini_at(p, sizeof p, "%s[%d].file", param, j);
            part = file_part(t, gw_gemini_get(c, "file"), p);
        } else {
            gw_gemini_at(p, sizeof p, "%s[%d].type", param, j);
            return gw_gemini_refuse(t, "unsupported_value", p,
                                    "is '%s', which the Gemini API cannot take.", ty);
        }
        if (!part)
            return -1;
        cJSON_AddItemToArray(parts, part);
    }
    return 0;
}

/* Appends parts (ownership passes) as a content of role, merged into the
 * last content when that has the same role. Empty parts add nothing. */
static void add_content(struct gw_gemini_tx *t, const char *role, cJSON *parts)
{
    if (!parts->child) {
        cJSON_Delete(parts);
        return;
    }
    cJSON *last = cJSON_GetArrayItem(t->contents, cJSON_GetArraySize(t->contents) - 1);
    const cJSON *lr = last ? cJSON_GetObjectItemCaseSensitive(last, "role") : NULL;
    if (lr && strcmp(lr->valuestring, role) == 0) {
        cJSON *lp = cJSON_GetObjectItemCaseSensitive(last, "parts");
        while (parts->child) {
            cJSON *p = cJSON_DetachItemViaPointer(parts, parts->child);
            cJSON_AddItemToArray(lp, p);
        }
        cJSON_Delete(parts);
        return;
    }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "role", role);
    cJSON_AddItemToObject(c, "parts", parts);
    cJSON_AddItemToArray(t->contents, c);
}

/* ---- tool calls --------------------------------------------------------- */

/* A tool call id split into the call's own id (in buf) and its thought
 * signature (standard base64, malloc'd into *sig; NULL when none). */
static void split_id(const char *id, char *buf, size_t n, char **sig)
{
    const char *sep = strstr(id, GW_GEMINI_SIG_SEP);
    *sig = NULL;
    if (!sep) {
        snprintf(buf, n, "%s", id);
        return;
    }
    snprintf(buf, n, "%.*s", (int)(sep - id), id);
    const char *s = sep + strlen(GW_GEMINI_SIG_SEP);
    size_t len = strlen(s);
    char *out = malloc(len + 4);
    if (!out)
        return;
    size_t k = 0;
    for (; k < len; k++)
        out[k] = s[k] == '-' ? '+' : s[k] == '_' ? '/' : s[k];
    while (k % 4)
        out[k++] = '=';
    out[k] = '\0';
    *sig = out;
}

static int tool_calls(struct gw_gemini_tx *t, const cJSON *calls, int i, cJSON *parts)
{
    char p[160];
    gw_gemini_at(p, sizeof p, "messages[%d].tool_calls", i);
    if (!cJSON_IsArray(calls))
        return gw_gemini_refuse(t, "invalid_type", p, "must be an array.");
    int j = 0;
    for (const cJSON *c = calls->child; c; c = c->next, j++) {
        const cJSON *type = gw_gemini_get(c, "type"), *id = gw_gemini_get(c, "id"),
                    *fn = gw_gemini_get(c, "function");
        const cJSON *name = gw_gemini_get(fn, "name"), *args = gw_gemini_get(fn, "arguments");
        gw_gemini_at(p, sizeof p, "messages[%d].tool_calls[%d].type", i, j);
        if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0))
            return gw_gemini_refuse(t, "unsupported_value", p,
                                    "must be 'function': the Gemini API has function calls only.");
        gw_gemini_at(p, sizeof p, "messages[%d].tool_calls[%d].id", i, j);
        if (!cJSON_IsString(id) || !*id->valuestring)
            return gw_gemini_refuse(t, "invalid_type", p, "must be a non-empty string.");
        gw_gemini_at(p, sizeof p, "messages[%d].tool_calls[%d].function.name", i, j);
        if (!cJSON_IsString(name) || !*name->valuestring)
            return gw_gemini_refuse(t, "invalid_type", p, "must be a non-empty string.");
        gw_gemini_at(p, sizeof p, "messages[%d].tool_calls[%d].function.arguments", i, j);
        if (args && !cJSON_IsString(args))
            return gw_gemini_refuse(t, "invalid_type", p, "must be a string of JSON.");
        const char *a = args ? args->valuestring : "";
        cJSON *obj = *a ? cJSON_Parse(a) : cJSON_CreateObject();
        if (!cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            return gw_gemini_refuse(t, "invalid_value", p,
                                    "must be a JSON object: the Gemini API takes a function call's "
                                    "arguments as an object.");
        }
        char own[256];
        char *sig;
        split_id(id->valuestring, own, sizeof own, &sig);
        cJSON *part = cJSON_CreateObject();
        cJSON *fc = cJSON_AddObjectToObject(part, "functionCall");
        cJSON_AddStringToObject(fc, "id", own);
        cJSON_AddStringToObject(fc, "name", name->valuestring);
        cJSON_AddItemToObject(fc, "args", obj);
        if (sig)
            cJSON_AddStringToObject(part, "thoughtSignature", sig);
        free(sig);
        cJSON_AddItemToArray(parts, part);
    }
    return 0;
}

/* The function name of the tool call id made by an assistant message before
 * message i, or NULL. */
static const char *call_name(const struct gw_gemini_tx *t, int i, const char *id)
{
    int k = 0;
    for (const cJSON *m = t->msgs->child; m && k < i; m = m->next, k++) {
        const cJSON *calls = gw_gemini_get(m, "tool_calls");
        for (const cJSON *c = cJSON_IsArray(calls) ? calls->child : NULL; c; c = c->next) {
            const cJSON *cid = gw_gemini_get(c, "id"),
                        *name = gw_gemini_get(gw_gemini_get(c, "function"), "name");
            if (cJSON_IsString(cid) && cJSON_IsString(name) && strcmp(cid->valuestring, id) == 0)
                return name->valuestring;
        }
    }
    return NULL;
}

static int tool_message(struct gw_gemini_tx *t, const cJSON *m, int i, cJSON *parts)
{
    const cJSON *id = gw_gemini_get(m, "tool_call_id");
    char p[96];
    gw_gemini_at(p, sizeof p, "messages[%d].tool_call_id", i);
    if (!cJSON_IsString(id) || !*id->valuestring)
        return gw_gemini_refuse(t, "invalid_type", p, "must be a non-empty string.");
    const char *name = call_name(t, i, id->valuestring);
    if (!name)
        return gw_gemini_refuse(
            t, "invalid_value", p,
            "names no tool call of an earlier assistant message; the Gemini API needs "
            "the function's name with its result.");
    struct gw_buf text = {0};
    if (content_parts(t, gw_gemini_get(m, "content"), i, K_TOOL, NULL, &text) != 0) {
        gw_buf_free(&text);
        return -1;
    }
    cJSON *out = text.len ? cJSON_Parse(text.data) : NULL;
    if (!cJSON_IsObject(out)) {
        cJSON_Delete(out);
        out = cJSON_CreateString(text.len ? text.data : "");
    }
    gw_buf_free(&text);
    char own[256];
    char *sig;
    split_id(id->valuestring, own, sizeof own, &sig);
    free(sig); /* signatures go with the call, not with its result */
    cJSON *part = cJSON_CreateObject();
    cJSON *fr = cJSON_AddObjectToObject(part, "functionResponse");
    cJSON_AddStringToObject(fr, "id", own);
    cJSON_AddStringToObject(fr, "name", name);
    cJSON_AddItemToObject(cJSON_AddObjectToObject(fr, "response"), "output", out);
    cJSON_AddItemToArray(parts, part);
    return 0;
}

/* ---- messages ----------------------------------------------------------- */

static int one_message(struct gw_gemini_tx *t, const cJSON *m, int i)
{
    char p[64];
    const cJSON *role = gw_gemini_get(m, "role");
    gw_gemini_at(p, sizeof p, "messages[%d]", i);
    if (!cJSON_IsObject(m) || !cJSON_IsString(role))
        return gw_gemini_refuse(t, "invalid_type", p, "must be an object with a string 'role'.");
    for (const cJSON *k = m->child; k; k = k->next) {
        static const char *const known[] = {"role", "content", "tool_calls", "tool_call_id",
                                            "refusal"};
        size_t n = 0;
        while (n < sizeof known / sizeof *known && strcmp(k->string, known[n]) != 0)
            n++;
        if (n < sizeof known / sizeof *known || cJSON_IsNull(k))
            continue;
        gw_gemini_at(t->param, sizeof t->param, "messages[%d].%.60s", i, k->string);
        return gw_gemini_cannot(t, t->param);
    }
    const char *ro = role->valuestring;
    enum kind kind;
    if (strcmp(ro, "system") == 0 || strcmp(ro, "developer") == 0)
        kind = K_SYSTEM;
    else if (strcmp(ro, "user") == 0)
        kind = K_USER;
    else if (strcmp(ro, "assistant") == 0)
        kind = K_MODEL;
    else if (strcmp(ro, "tool") == 0)
        kind = K_TOOL;
    else {
        gw_gemini_at(p, sizeof p, "messages[%d].role", i);
        return gw_gemini_refuse(
            t, "unsupported_value", p,
            "is '%s'; the Gemini API takes system, developer, user, assistant and "
            "tool messages.",
            ro);
    }
    cJSON *parts = cJSON_CreateArray();
    int rc;
    if (kind == K_TOOL) {
        rc = tool_message(t, m, i, parts);
    } else {
        rc = content_parts(t, gw_gemini_get(m, "content"), i, kind, parts, NULL);
        const cJSON *calls = gw_gemini_get(m, "tool_calls");
        if (rc == 0 && calls && kind != K_MODEL) {
            gw_gemini_at(p, sizeof p, "messages[%d].tool_calls", i);
            rc = gw_gemini_refuse(t, "invalid_value", p,
                                  "only assistant messages carry tool calls.");
        } else if (rc == 0 && calls) {
            rc = tool_calls(t, calls, i, parts);
        }
    }
    const cJSON *refusal = gw_gemini_get(m, "refusal");
    gw_gemini_at(p, sizeof p, "messages[%d].refusal", i);
    if (rc == 0 && refusal && (kind != K_MODEL || !cJSON_IsString(refusal)))
        rc = gw_gemini_refuse(t, "invalid_value", p, "is for assistant messages, as a string.");
    else if (rc == 0 && refusal) /* what the assistant said, as text */
        cJSON_AddItemToArray(parts, text_part(refusal->valuestring));
    if (rc != 0) {
        cJSON_Delete(parts);
        return -1;
    }
    if (kind == K_SYSTEM) {
        while (parts->child)
            cJSON_AddItemToArray(t->system, cJSON_DetachItemViaPointer(parts, parts->child));
        cJSON_Delete(parts);
    } else {
        add_content(t, kind == K_MODEL ? "model" : "user", parts);
    }
    return 0;
}

char *gw_gemini_body(struct gw_request *r, size_t *len)
{
    struct gw_gemini_tx t = {.r = r, .msgs = gw_gemini_get(r->json, "messages")};
    cJSON *body = cJSON_CreateObject();
    char *out = NULL;
    if (gw_gemini_check_fields(&t) != 0)
        goto out;
    if (!cJSON_IsArray(t.msgs) || !t.msgs->child) {
        gw_gemini_refuse(&t, "invalid_value", "messages", "must be a non-empty array.");
        goto out;
    }
    t.contents = cJSON_AddArrayToObject(body, "contents");
    t.system = cJSON_CreateArray();
    int i = 0;
    for (const cJSON *m = t.msgs->child; m; m = m->next, i++)
        if (one_message(&t, m, i) != 0)
            goto out;
    if (!t.contents->child) {
        gw_gemini_refuse(
            &t, "invalid_value", "messages",
            "must hold a user or assistant message with content: the Gemini API does not "
            "answer a system instruction alone.");
        goto out;
    }
    if (t.system->child) {
        cJSON *si = cJSON_AddObjectToObject(body, "systemInstruction");
        cJSON_AddItemToObject(si, "parts", t.system);
        t.system = NULL;
    }
    if (gw_gemini_params(&t, body) != 0)
        goto out;
    out = cJSON_PrintUnformatted(body);
    if (!out)
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
    else
        *len = strlen(out);
out:
    cJSON_Delete(t.system);
    cJSON_Delete(body);
    return out;
}
