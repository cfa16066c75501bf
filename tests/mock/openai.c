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
static cJSON *mock_embedding_vector(const char *text)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    double v[8], norm = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t z = (h += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        v[i] = (double)(z >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
        norm += v[i] * v[i];
    }
    norm = sqrt(norm);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < 8; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(round(v[i] / norm * 1e6) / 1e6));
    return arr;
}

static void mock_add_embedding(cJSON *data, int index, const char *text)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "object", "embedding");
    cJSON_AddNumberToObject(e, "index", index);
    cJSON_AddItemToObject(e, "embedding", mock_embedding_vector(text));
    cJSON_AddItemToArray(data, e);
}

const char *mock_openai_embeddings(const char *body, size_t len, char **out)
{
    static const char bad_input[] = "'input' must be a string or a non-empty array of strings";
    *out = NULL;
    cJSON *req = cJSON_ParseWithLength(body, len);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(req, "model");
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(req, "input");
    const cJSON *it;
    const char *err = NULL;

    if (!cJSON_IsObject(req))
        err = "We could not parse the JSON body of your request.";
    else if (!cJSON_IsString(model) || !*model->valuestring)
        err = "you must provide a model parameter";
    else if (!cJSON_IsString(input) && !(cJSON_IsArray(input) && cJSON_GetArraySize(input)))
        err = bad_input;
    else if (cJSON_IsArray(input))
        cJSON_ArrayForEach(it, input)
        {
            if (!cJSON_IsString(it))
                err = bad_input;
        }
    if (err) {
        cJSON_Delete(req);
        return err;
    }

    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    long words = 0;
    if (cJSON_IsString(input)) {
        mock_add_embedding(data, 0, input->valuestring);
        words = mock_count_words(input->valuestring);
    } else {
        int index = 0;
        cJSON_ArrayForEach(it, input)
        {
            mock_add_embedding(data, index++, it->valuestring);
            words += mock_count_words(it->valuestring);
        }
    }
    cJSON_AddStringToObject(root, "model", model->valuestring);
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)words);
    cJSON_AddNumberToObject(u, "total_tokens", (double)words);
    *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    cJSON_Delete(req);
    return *out ? NULL : "out of memory";
}
