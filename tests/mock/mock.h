/* Shared declarations of the mock LLM upstream (tests/mock): the directive set,
 * the parsed chat request, and the small interface each file exposes to the
 * others. See README.md in this directory for the behaviour on the wire. */
#ifndef MOCK_H
#define MOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

/* Largest request body accepted (bigger ones get 413). */
#define MOCK_MAX_BODY (16u * 1024u * 1024u)
/* Requests kept by the request log. */
#define MOCK_RECORD_KEEP 1000
/* How often a hanging request checks whether its client went away. */
#define MOCK_HANG_POLL_MS 50

static inline uint64_t mock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t mock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- faults.c: [[mock:...]] directives and the control-API fault ---- */

/* What a request asks the mock to do; "none" values are 0 / -1 / false. */
struct mock_directives {
    unsigned status;     /* reply with this HTTP status; 0 = normal reply */
    long retry_after;    /* Retry-After seconds with status; -1 = none */
    long delay_ms;       /* wait before the response headers */
    long chunk_delay_ms; /* stream: wait before every event after the first */
    long words;          /* reply "w1 .. wN" instead of the echo; -1 = echo */
    long drop_after;     /* abort after N word chunks (stream) or bytes; -1 = never */
    long cached;         /* prompt tokens reported as read from the prompt cache */
    bool hang, garbage, no_usage, sse_garbage;
};

void mock_directives_init(struct mock_directives *d);
/* Applies every [[mock:...]] found in text to d and cuts it out of text. */
void mock_directives_extract(char *text, struct mock_directives *d);

/* Arms the control fault from a POST /_mock/faults body; NULL or an error. */
const char *mock_faults_set(const cJSON *spec);
void mock_faults_clear(void);
/* The armed fault as JSON (caller frees), for GET /_mock/faults. */
char *mock_faults_describe(void);
/* Consumes one use of the armed fault, if any, into d (status, retry_after,
 * delay_ms); returns true when a status fault was applied. */
bool mock_faults_take(struct mock_directives *d);

/* ---- record.c: request log and counters ---- */

void mock_record_add(struct MHD_Connection *conn, const char *method, const char *path,
                     const char *body, size_t len);
char *mock_record_dump(void); /* {"requests":[...]}; caller frees */
void mock_record_clear(void);
void mock_stats_begin(void);
void mock_stats_end(void);
char *mock_stats_dump(void); /* {"requests":N,"active":N}; caller frees */

/* ---- openai.c: the OpenAI wire format ---- */

struct mock_chat {
    char id[48];
    long long created;
    char *model;
    char *reply;
    long prompt_tokens;
    long completion_tokens;
    bool stream;
    bool include_usage;
    struct mock_directives dir;
};

enum mock_chunk_kind { MOCK_CHUNK_ROLE, MOCK_CHUNK_WORD, MOCK_CHUNK_FINISH, MOCK_CHUNK_USAGE };

/* Returns NULL on success (c filled, free with mock_chat_free) or the
 * message of a 400 invalid_request_error. */
const char *mock_openai_chat_parse(const char *body, size_t len, struct mock_chat *c);
void mock_chat_free(struct mock_chat *c);
char *mock_openai_completion(const struct mock_chat *c);
/* One SSE event "data: {chat.completion.chunk}\n\n"; word is used by WORD. */
char *mock_openai_chunk(const struct mock_chat *c, enum mock_chunk_kind kind, const char *word,
                        size_t wlen);
char *mock_openai_models(void);
/* Embeddings reply into *out, or returns a 400 message. The [[mock:...]]
 * directives of the input strings are applied to d (initialised by the
 * caller); no_usage is honoured here, the others by the caller. */
const char *mock_openai_embeddings(const char *body, size_t len, char **out,
                                   struct mock_directives *d);
/* {"error":{...}}; code NULL gives "code":null. */
char *mock_openai_error(const char *message, const char *type, const char *code);
long mock_count_words(const char *s);

/* ---- stream.c: callback-driven bodies (SSE stream, truncated body) ---- */

/* Takes ownership of *chat (left zeroed). */
struct MHD_Response *mock_stream_response(struct mock_chat *chat, struct MHD_Connection *conn);
/* Announces len bytes but sends only the first `send`, then aborts. Takes body. */
struct MHD_Response *mock_truncated_response(char *body, size_t len, size_t send,
                                             struct MHD_Connection *conn);

/* ---- wake.c: timed resumption of suspended connections ---- */

bool mock_wake_start(void);
/* Suspends conn until at_ms (monotonic). False when shutting down (or out of
 * memory): the caller must then abort instead of waiting. */
bool mock_wake_at(struct MHD_Connection *conn, uint64_t at_ms);
bool mock_wake_stopping(void);
/* Resumes every waiting connection and refuses new waits. */
void mock_wake_stop(void);

/* ---- server.c / control.c: HTTP intake ---- */

struct mock_server_opts {
    const char *host;
    unsigned port;
    unsigned threads;
};

struct MHD_Daemon *mock_server_start(const struct mock_server_opts *o, unsigned *bound_port);
void mock_server_stop(struct MHD_Daemon *d);
/* JSON response taking ownership of text (NULL gives a 500-style body). */
struct MHD_Response *mock_reply_json(char *text);
/* Builds the reply to a request for a /_mock/ URL. */
struct MHD_Response *mock_control_handle(const char *method, const char *url, const char *body,
                                         size_t len, unsigned *status);

#endif
