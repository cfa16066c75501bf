/* The OpenAI wire format as the mock speaks it: parsing a chat-completions
 * request into a struct mock_chat (echo reply, directives, deterministic token
 * counts) and rendering chat.completion, chat.completion.chunk, model list,
 * embeddings and error objects. Pure functions; no I/O and no shared state
 * beyond an atomic id counter. */
#include "mock.h"

#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_ullong chat_seq;

long mock_count_words(const char *s)
{
    long n = 0;
    bool in = false;
    for (; *s; s++) {
        bool sp = isspace((unsigned char)*s);
        if (!sp && !in)
            n++;
        in = !sp;
    }
    return n;
}

char *mock_openai_error(const char *message, const char *type, const char *code)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", message);
    cJSON_AddStringToObject(err, "type", type);
    cJSON_AddNullToObject(err, "param");
    if (code)
        cJSON_AddStringToObject(err, "code", code);
    else
        cJSON_AddNullToObject(err, "code");
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

/* Text of a message's content: a string, or the text parts joined by spaces. */
static char *mock_content_text(const cJSON *content)
{
    if (cJSON_IsString(content))
        return strdup(content->valuestring);
    size_t len = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(t))
            len += strlen(t->valuestring) + 1;
    }
    char *out = malloc(len + 1), *p = out;
    if (!out)
        return NULL;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t) || (cJSON_IsString(type) && strcmp(type->valuestring, "text")))
            continue;
        if (p != out)
            *p++ = ' ';
        size_t n = strlen(t->valuestring);
        memcpy(p, t->valuestring, n);
        p += n;
    }
    *p = '\0';
    return out;
}

static char *mock_make_reply(const char *text, long words)
{
    if (words >= 0) {
        /* "w1 w2 ... wN": at most 9 bytes per word for N <= 10^7. */
        char *out = malloc((size_t)words * 10 + 1), *p = out;
        if (!out)
            return NULL;
        *p = '\0';
        for (long i = 1; i <= words; i++)
            p += sprintf(p, i == 1 ? "w%ld" : " w%ld", i);
        return out;
    }
    if (!*text)
        return strdup("echo:");
    size_t n = strlen(text);
    char *out = malloc(n + 7);
    if (out) {
        memcpy(out, "echo: ", 6);
        memcpy(out + 6, text, n + 1);
    }
    return out;
}

const char *mock_openai_chat_parse(const char *body, size_t len, struct mock_chat *c)
{
    memset(c, 0, sizeof *c);
    mock_directives_init(&c->dir);
    cJSON *root = cJSON_ParseWithLength(body, len);
    const char *err = NULL;
    char *last_user = NULL;

    if (!cJSON_IsObject(root)) {
        err = "We could not parse the JSON body of your request. (HINT: This likely means you "
              "aren't using your HTTP library correctly.)";
        goto out;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsString(model) || !*model->valuestring) {
        err = "you must provide a model parameter";
        goto out;
    }
    if (!cJSON_IsArray(msgs) || !cJSON_GetArraySize(msgs)) {
        err = "'messages' must be a non-empty array";
        goto out;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsString(role)) {
            err = "each message must be an object with a string 'role'";
            goto out;
        }
        char *text = mock_content_text(cJSON_GetObjectItemCaseSensitive(m, "content"));
        if (!text) {
            err = "out of memory";
            goto out;
        }
        c->prompt_tokens += mock_count_words(text);
        if (strcmp(role->valuestring, "user") == 0) {
            free(last_user);
            last_user = text;
        } else {
            free(text);
        }
    }

    char *text = last_user ? last_user : "";
    if (last_user) {
        mock_directives_extract(last_user, &c->dir);
        while (isspace((unsigned char)*text))
            text++;
        size_t n = strlen(text);
        while (n && isspace((unsigned char)text[n - 1]))
            text[--n] = '\0';
    }
    c->model = strdup(model->valuestring);
    c->reply = mock_make_reply(text, c->dir.words);
    if (!c->model || !c->reply) {
        err = "out of memory";
        goto out;
    }
    c->completion_tokens = mock_count_words(c->reply);
    c->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    c->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    c->created = (long long)(mock_wall_ms() / 1000);
    snprintf(c->id, sizeof c->id, "chatcmpl-mock-%llu", atomic_fetch_add(&chat_seq, 1) + 1);
out:
    free(last_user);
    cJSON_Delete(root);
    if (err)
        mock_chat_free(c);
    return err;
}

void mock_chat_free(struct mock_chat *c)
{
    free(c->model);
    free(c->reply);
    c->model = c->reply = NULL;
}

static void mock_add_usage(cJSON *obj, const struct mock_chat *c)
{
    cJSON *u = cJSON_AddObjectToObject(obj, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)c->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)c->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(c->prompt_tokens + c->completion_tokens));
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(
        d, "cached_tokens",
        (double)(c->dir.cached < c->prompt_tokens ? c->dir.cached : c->prompt_tokens));
}

static cJSON *mock_chat_object(const struct mock_chat *c, const char *object)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", c->id);
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)c->created);
    cJSON_AddStringToObject(root, "model", c->model);
    cJSON_AddStringToObject(root, "system_fingerprint", "mock");
    return root;
}

char *mock_openai_completion(const struct mock_chat *c)
{
    cJSON *root = mock_chat_object(c, "chat.completion");
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "choices"), choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(choice, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", c->reply);
    cJSON_AddNullToObject(choice, "logprobs");
    cJSON_AddStringToObject(choice, "finish_reason", "stop");
    mock_add_usage(root, c);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

char *mock_openai_chunk(const struct mock_chat *c, enum mock_chunk_kind kind, const char *word,
                        size_t wlen)
{
    cJSON *root = mock_chat_object(c, "chat.completion.chunk");
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    if (kind == MOCK_CHUNK_USAGE) {
        mock_add_usage(root, c);
    } else {
        cJSON *choice = cJSON_CreateObject();
        cJSON_AddItemToArray(choices, choice);
        cJSON_AddNumberToObject(choice, "index", 0);
        cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
        if (kind == MOCK_CHUNK_ROLE) {
            cJSON_AddStringToObject(delta, "role", "assistant");
            cJSON_AddStringToObject(delta, "content", "");
        } else if (kind == MOCK_CHUNK_WORD) {
            char *w = strndup(word, wlen);
            cJSON_AddStringToObject(delta, "content", w ? w : "");
            free(w);
        }
        cJSON_AddNullToObject(choice, "logprobs");
        if (kind == MOCK_CHUNK_FINISH)
            cJSON_AddStringToObject(choice, "finish_reason", "stop");
        else
            cJSON_AddNullToObject(choice, "finish_reason");
        if (c->include_usage)
            cJSON_AddNullToObject(root, "usage");
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json)
        return NULL;
    size_t n = strlen(json);
    char *ev = malloc(n + 9);
    if (ev) {
        memcpy(ev, "data: ", 6);
        memcpy(ev + 6, json, n);
        memcpy(ev + 6 + n, "\n\n", 3);
    }
    free(json);
    return ev;
}

char *mock_openai_models(void)
{
    static const char *ids[] = {"gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo", "text-embedding-3-small"};
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", ids[i]);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", 0);
        cJSON_AddStringToObject(m, "owned_by", "mock");
        cJSON_AddItemToArray(data, m);
    }
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

/* 8 components from FNV-1a of the text stretched by splitmix64, L2-normalised
 * and rounded to 6 decimals, so equal texts give equal vectors. */
static void mock_embedding_values(const char *text, double v[8])
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    double norm = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t z = (h += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        v[i] = (double)(z >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
        norm += v[i] * v[i];
    }
    norm = sqrt(norm);
    for (int i = 0; i < 8; i++)
        v[i] = round(v[i] / norm * 1e6) / 1e6;
}

/* The vector as OpenAI sends it: numbers, or (base64) the little-endian
 * float32 values in standard base64. */
static cJSON *mock_embedding_vector(const char *text, bool base64)
{
    double v[8];
    mock_embedding_values(text, v);
    if (!base64) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < 8; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(v[i]));
        return arr;
    }
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char bytes[32];
    for (int i = 0; i < 8; i++) {
        float f = (float)v[i];
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        for (int k = 0; k < 4; k++)
            bytes[i * 4 + k] = (unsigned char)(u >> (8 * k));
    }
    char out[48]; /* 32 bytes -> 44 characters */
    size_t o = 0;
    for (size_t i = 0; i < sizeof bytes; i += 3) {
        uint32_t n = (uint32_t)bytes[i] << 16;
        if (i + 1 < sizeof bytes)
            n |= (uint32_t)bytes[i + 1] << 8;
        if (i + 2 < sizeof bytes)
            n |= bytes[i + 2];
        out[o++] = b64[(n >> 18) & 63];
        out[o++] = b64[(n >> 12) & 63];
        out[o++] = i + 1 < sizeof bytes ? b64[(n >> 6) & 63] : '=';
        out[o++] = i + 2 < sizeof bytes ? b64[n & 63] : '=';
    }
    out[o] = '\0';
    return cJSON_CreateString(out);
}

static bool mock_token_id(const cJSON *t)
{
    return cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble < 4294967296.0 &&
           t->valuedouble == (double)(uint32_t)t->valuedouble;
}

/* A token array as the text its vector is made from ("1 2 3"), or NULL if
 * it is not a non-empty array of token ids. Caller frees. */
static char *mock_token_text(const cJSON *a)
{
    if (!cJSON_IsArray(a) || !a->child)
        return NULL;
    size_t cap = (size_t)cJSON_GetArraySize(a) * 11 + 1, n = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (const cJSON *t = a->child; t; t = t->next) {
        if (!mock_token_id(t)) {
            free(s);
            return NULL;
        }
        n += (size_t)snprintf(s + n, cap - n, n ? " %u" : "%u", (unsigned)t->valuedouble);
    }
    return s;
}

/* One input item: its embedding is added to data; returns its token count
 * (words of a string, ids of a token array) or -1 if it is not valid. The
 * directives of a string are applied to d (the vector and the count are of
 * the raw text, as chat counts them). */
static long mock_add_embedding(cJSON *data, int index, const cJSON *item, bool base64,
                               struct mock_directives *d)
{
    long n;
    char *text;
    if (cJSON_IsString(item)) {
        text = strdup(item->valuestring);
        if (!text)
            return -1;
        n = mock_count_words(text);
        char *scratch = strdup(text);
        if (scratch)
            mock_directives_extract(scratch, d);
        free(scratch);
    } else {
        text = mock_token_text(item);
        if (!text)
            return -1;
        n = cJSON_GetArraySize(item);
    }
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "object", "embedding");
    cJSON_AddNumberToObject(e, "index", index);
    cJSON_AddItemToObject(e, "embedding", mock_embedding_vector(text, base64));
    cJSON_AddItemToArray(data, e);
    free(text);
    return n;
}

const char *mock_openai_embeddings(const char *body, size_t len, char **out,
                                   struct mock_directives *d)
{
    static const char bad_input[] = "'input' must be a string, or a non-empty array of strings, "
                                    "of token ids or of token arrays";
    *out = NULL;
    cJSON *req = cJSON_ParseWithLength(body, len);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(req, "model");
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(req, "input");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(req, "encoding_format");
    const char *err = NULL;

    if (!cJSON_IsObject(req))
        err = "We could not parse the JSON body of your request.";
    else if (!cJSON_IsString(model) || !*model->valuestring)
        err = "you must provide a model parameter";
    else if (!cJSON_IsString(input) && !(cJSON_IsArray(input) && input->child))
        err = bad_input;
    if (err) {
        cJSON_Delete(req);
        return err;
    }
    bool base64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    long words = 0;
    if (cJSON_IsString(input) || cJSON_IsNumber(input->child)) {
        words = mock_add_embedding(data, 0, input, base64, d);
    } else {
        int index = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, input)
        {
            long n = mock_add_embedding(data, index++, it, base64, d);
            words = n < 0 ? -1 : words + n;
            if (n < 0)
                break;
        }
    }
    if (words < 0) {
        cJSON_Delete(root);
        cJSON_Delete(req);
        return bad_input;
    }
    cJSON_AddStringToObject(root, "model", model->valuestring);
    if (!d->no_usage) {
        cJSON *u = cJSON_AddObjectToObject(root, "usage");
        cJSON_AddNumberToObject(u, "prompt_tokens", (double)words);
        cJSON_AddNumberToObject(u, "total_tokens", (double)words);
    }
    *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    cJSON_Delete(req);
    return *out ? NULL : "out of memory";
}
