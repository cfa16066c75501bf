/* The OpenAI wire format as the mock speaks it: POST /v1/chat/completions
 * (parsing into a struct mock_chat, chat.completion and the stream of
 * chat.completion.chunk events), GET /v1/models, POST /v1/embeddings and the
 * OpenAI error object. No shared state beyond chat.c's id counter. */
#include "mock.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static void mock_content_text(const cJSON *content, struct mock_buf *b)
{
    if (cJSON_IsString(content)) {
        mock_buf_join(b, content->valuestring);
        return;
    }
    mock_buf_add(b, "", 0);
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t) || (cJSON_IsString(type) && strcmp(type->valuestring, "text")))
            continue;
        mock_buf_join(b, t->valuestring);
    }
}

/* Returns NULL on success (c filled, free with mock_chat_free) or the
 * message of a 400 invalid_request_error. */
static const char *mock_openai_chat_parse(const char *body, size_t len, struct mock_chat *c)
{
    mock_chat_init(c);
    cJSON *root = cJSON_ParseWithLength(body, len);
    const char *err = NULL;

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
        struct mock_buf text = {0};
        mock_content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), &text);
        if (text.oom) {
            mock_buf_free(&text);
            err = "out of memory";
            goto out;
        }
        mock_chat_count(c, text.p);
        if (strcmp(role->valuestring, "user") == 0)
            mock_chat_user(c, &text);
        mock_buf_free(&text);
    }
    if (!mock_chat_finish(c, model->valuestring, MOCK_FMT_OPENAI, "chatcmpl-mock-")) {
        err = "out of memory";
        goto out;
    }
    c->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    c->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
out:
    cJSON_Delete(root);
    if (err)
        mock_chat_free(c);
    return err;
}

static const char *mock_openai_finish_reason(const struct mock_chat *c)
{
    static const char *const reasons[] = {
        [MOCK_STOP_END] = "stop", [MOCK_STOP_TOOL] = "tool_calls", [MOCK_STOP_MAX] = "length"};
    return reasons[mock_chat_stop(c)];
}

/* tool_calls[0] of a message or a delta; fragment NULL: the whole call. */
static void mock_openai_tool_call(cJSON *parent, const struct mock_chat *c, bool head,
                                  const char *args, size_t alen)
{
    cJSON *call = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(parent, "tool_calls"), call);
    if (c->stream)
        cJSON_AddNumberToObject(call, "index", 0);
    if (head) {
        char id[48];
        snprintf(id, sizeof id, "call_mock_%llu", c->seq);
        cJSON_AddStringToObject(call, "id", id);
        cJSON_AddStringToObject(call, "type", "function");
    }
    cJSON *fn = cJSON_AddObjectToObject(call, "function");
    if (head)
        cJSON_AddStringToObject(fn, "name", c->dir.tool);
    char *a = strndup(args, alen);
    cJSON_AddStringToObject(fn, "arguments", a ? a : "");
    free(a);
}

static void mock_add_usage(cJSON *obj, const struct mock_chat *c)
{
    cJSON *u = cJSON_AddObjectToObject(obj, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)c->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)c->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(c->prompt_tokens + c->completion_tokens));
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", (double)c->cache_read);
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

static char *mock_openai_completion(const struct mock_chat *c)
{
    cJSON *root = mock_chat_object(c, "chat.completion");
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "choices"), choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(choice, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", c->reply);
    if (c->tool_args)
        mock_openai_tool_call(msg, c, true, c->tool_args, strlen(c->tool_args));
    cJSON_AddNullToObject(choice, "logprobs");
    cJSON_AddStringToObject(choice, "finish_reason", mock_openai_finish_reason(c));
    mock_add_usage(root, c);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

/* One stream step as a chat.completion.chunk event; steps OpenAI has no
 * chunk for render nothing. */
static bool mock_openai_render(const struct mock_chat *c, enum mock_ev ev, const char *arg,
                               size_t alen, char **out, size_t *len)
{
    static const char sse_garbage[] = "data: {not json\n\n";
    static const char sse_done[] = "data: [DONE]\n\n";
    const char *fixed = NULL;
    bool usage = c->include_usage && !c->dir.no_usage;

    *out = NULL;
    switch (ev) {
    case MOCK_EV_GARBAGE:
        fixed = sse_garbage;
        break;
    case MOCK_EV_DONE:
        fixed = sse_done;
        break;
    case MOCK_EV_START:
    case MOCK_EV_WORD:
    case MOCK_EV_TOOL_START:
    case MOCK_EV_TOOL_ARGS:
    case MOCK_EV_FINISH:
        break;
    case MOCK_EV_USAGE:
        if (usage)
            break;
        return true;
    default:
        return true;
    }
    if (fixed) {
        *out = strdup(fixed);
        *len = strlen(fixed);
        return *out != NULL;
    }
    cJSON *root = mock_chat_object(c, "chat.completion.chunk");
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    if (ev == MOCK_EV_USAGE) {
        mock_add_usage(root, c);
    } else {
        cJSON *choice = cJSON_CreateObject();
        cJSON_AddItemToArray(choices, choice);
        cJSON_AddNumberToObject(choice, "index", 0);
        cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
        if (ev == MOCK_EV_START) {
            cJSON_AddStringToObject(delta, "role", "assistant");
            cJSON_AddStringToObject(delta, "content", "");
        } else if (ev == MOCK_EV_WORD) {
            char *w = strndup(arg, alen);
            cJSON_AddStringToObject(delta, "content", w ? w : "");
            free(w);
        } else if (ev == MOCK_EV_TOOL_START) {
            mock_openai_tool_call(delta, c, true, "", 0);
        } else if (ev == MOCK_EV_TOOL_ARGS) {
            mock_openai_tool_call(delta, c, false, arg, alen);
        }
        cJSON_AddNullToObject(choice, "logprobs");
        if (ev == MOCK_EV_FINISH)
            cJSON_AddStringToObject(choice, "finish_reason", mock_openai_finish_reason(c));
        else
            cJSON_AddNullToObject(choice, "finish_reason");
        if (c->include_usage)
            cJSON_AddNullToObject(root, "usage");
    }
    *out = mock_sse_event(NULL, cJSON_PrintUnformatted(root), "\n\n", len);
    cJSON_Delete(root);
    return *out != NULL;
}

static const struct mock_chat_ops mock_openai_ops = {
    .complete = mock_openai_completion,
    .stream = {.content_type = "text/event-stream", .render = mock_openai_render},
};

void mock_openai_chat(struct mock_call *call)
{
    struct mock_chat chat;
    const char *err = mock_openai_chat_parse(call->body, call->len, &chat);
    if (err)
        mock_call_error(call, MHD_HTTP_BAD_REQUEST, "invalid_request_error", err);
    else
        mock_call_answer(call, &chat, &mock_openai_ops);
}

void mock_openai_models(struct mock_call *call)
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
    mock_call_reply(call, MHD_HTTP_OK, mock_reply_json(cJSON_PrintUnformatted(root)));
    cJSON_Delete(root);
}

/* The vector as OpenAI sends it: numbers, or (base64) the little-endian
 * float32 values in standard base64. bow: a "bow-" model's bag-of-words
 * vector of MOCK_BOW_DIM values, else the 8 hash-derived ones. */
static cJSON *mock_embedding_vector(const char *text, bool base64, bool bow)
{
    double v[MOCK_BOW_DIM];
    int dim = bow ? MOCK_BOW_DIM : 8;
    if (bow)
        mock_vector_words(text, v, dim);
    else
        mock_vector(text, v, dim);
    if (!base64) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < dim; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(v[i]));
        return arr;
    }
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char bytes[MOCK_BOW_DIM * 4];
    size_t nbytes = (size_t)dim * 4;
    for (int i = 0; i < dim; i++) {
        float f = (float)v[i];
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        for (int k = 0; k < 4; k++)
            bytes[i * 4 + k] = (unsigned char)(u >> (8 * k));
    }
    char out[MOCK_BOW_DIM * 4 / 3 * 4 + 8];
    size_t o = 0;
    for (size_t i = 0; i < nbytes; i += 3) {
        uint32_t n = (uint32_t)bytes[i] << 16;
        if (i + 1 < nbytes)
            n |= (uint32_t)bytes[i + 1] << 8;
        if (i + 2 < nbytes)
            n |= bytes[i + 2];
        out[o++] = b64[(n >> 18) & 63];
        out[o++] = b64[(n >> 12) & 63];
        out[o++] = i + 1 < nbytes ? b64[(n >> 6) & 63] : '=';
        out[o++] = i + 2 < nbytes ? b64[n & 63] : '=';
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
static long mock_add_embedding(cJSON *data, int index, const cJSON *item, bool base64, bool bow,
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
    cJSON_AddItemToObject(e, "embedding", mock_embedding_vector(text, base64, bow));
    cJSON_AddItemToArray(data, e);
    free(text);
    return n;
}

/* Embeddings reply into *out, or returns a 400 message. The [[mock:...]]
 * directives of the input strings are applied to d (initialised by the
 * caller); no_usage is honoured here, the others by the caller. */
static const char *mock_openai_embed(const char *body, size_t len, char **out,
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
    bool bow = strncmp(model->valuestring, "bow-", 4) == 0;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    long words = 0;
    if (cJSON_IsString(input) || cJSON_IsNumber(input->child)) {
        words = mock_add_embedding(data, 0, input, base64, bow, d);
    } else {
        int index = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, input)
        {
            long n = mock_add_embedding(data, index++, it, base64, bow, d);
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

void mock_openai_embeddings(struct mock_call *call)
{
    char *out;
    struct mock_directives d;
    mock_directives_init(&d);
    const char *err = mock_openai_embed(call->body, call->len, &out, &d);
    if (err)
        mock_call_error(call, MHD_HTTP_BAD_REQUEST, "invalid_request_error", err);
    else if (mock_call_fault(call, &d))
        free(out);
    else
        mock_call_reply(call, MHD_HTTP_OK, mock_reply_json(out));
}
