/* Shared declarations of the mock LLM upstream (tests/mock): the directive set,
 * the parsed chat request every wire format shares, the call a route handles,
 * and the small interface each file exposes to the others. See README.md in
 * this directory for the behaviour on the wire. */
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

/* The error (and fault) shape a route answers in. */
enum mock_format {
    MOCK_FMT_OPENAI,
    MOCK_FMT_ANTHROPIC,
    MOCK_FMT_GOOGLE,
    MOCK_FMT_BEDROCK,
    MOCK_FMT_OAUTH,
    MOCK_FMT_COUNT
};

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
    long cache_write;    /* prompt tokens reported as written to the cache */
    long split;          /* stream: each word as events of at most N bytes; 0 = whole */
    char tool[65];       /* answer with a call to this tool; "" = none */
    bool hang, garbage, no_usage, sse_garbage;
    bool stop_max;         /* the stop reason is the format's max-tokens reason */
    bool overloaded;       /* Anthropic: error event after the first delta (529 unstreamed) */
    bool exception;        /* Bedrock: exception frame after the first delta (429 unstreamed) */
    bool context_exceeded; /* 400: the prompt does not fit the context window */
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

/* ---- chat.c: the answer every format gives ---- */

/* A growable string; oom is set (and the text dropped) when memory runs out. */
struct mock_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

void mock_buf_add(struct mock_buf *b, const char *s, size_t n);
/* Appends text, preceded by one space unless b is empty. */
void mock_buf_join(struct mock_buf *b, const char *text);
void mock_buf_free(struct mock_buf *b);

enum mock_stop { MOCK_STOP_END, MOCK_STOP_TOOL, MOCK_STOP_MAX };

/* A chat request of any format, reduced to what the answer needs. */
struct mock_chat {
    char id[48];            /* the format's id, e.g. "msg_mock_3" */
    unsigned long long seq; /* n of that id: requests of this format so far */
    long long created;      /* unix seconds */
    uint64_t start_ms;      /* monotonic arrival, for latencyMs */
    char *model;            /* as the answer names it */
    char *reply;            /* the text: echo, or "Calling NAME." with a tool */
    char *echo;             /* with a tool: the echo text it is called with */
    char *tool_args;        /* with a tool: {"text":<echo>} as JSON text */
    char *last_user;        /* while parsing: text of the last user message */
    long prompt_tokens;     /* words of every message and system text */
    long completion_tokens; /* words of reply (+ echo with a tool) */
    long cache_read;        /* cached=, at most prompt_tokens */
    long cache_write;       /* cache_write=, at most what cache_read leaves */
    bool stream;            /* streamed reply asked for */
    bool include_usage;     /* OpenAI: stream_options.include_usage */
    struct mock_directives dir;
};

long mock_count_words(const char *s);
void mock_chat_init(struct mock_chat *c);
/* Counts text toward the prompt tokens. */
void mock_chat_count(struct mock_chat *c, const char *text);
/* Makes the text in b (taken, b left empty) the last user message so far. */
void mock_chat_user(struct mock_chat *c, struct mock_buf *b);
/* Applies the last user message's directives and builds the reply, tokens
 * and id ("<prefix><n>"); false when out of memory. */
bool mock_chat_finish(struct mock_chat *c, const char *model, enum mock_format fmt,
                      const char *prefix);
void mock_chat_free(struct mock_chat *c);
enum mock_stop mock_chat_stop(const struct mock_chat *c);
/* Fragment i (0 or 1) of the tool arguments, split mid-text on a UTF-8
 * boundary. */
void mock_chat_tool_fragment(const struct mock_chat *c, int i, const char **p, size_t *n);
/* The tool arguments as a fresh cJSON object. */
cJSON *mock_chat_tool_input(const struct mock_chat *c);
/* Input tokens once cache reads and writes are taken out. */
long mock_chat_uncached(const struct mock_chat *c);

/* ---- vector.c: deterministic embeddings ---- */

/* n values (n >= 1) of a unit vector derived from a hash of text. */
void mock_vector(const char *text, double *v, int n);
/* Bag-of-words: texts sharing words get similar vectors ("bow-" models). */
#define MOCK_BOW_DIM 64
void mock_vector_words(const char *text, double *v, int n);

/* ---- check.c: request validation helpers ---- */

/* Why a request is refused: HTTP status, error type, message. */
struct mock_verdict {
    unsigned status;
    const char *type; /* NULL: derived from the status by the error shape */
    char msg[4096];
};

/* Fills v and returns false, so a check reads "return mock_fail(...)". */
bool mock_fail(struct mock_verdict *v, unsigned status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* First key of obj not in the NULL-terminated list, or NULL. With camel,
 * snake_case keys match their lowerCamelCase names (Google's JSON). */
const char *mock_json_unknown(const cJSON *obj, const char *const *known, bool camel);
/* obj[name], or with camel also obj[snake_case(name)]. */
const cJSON *mock_json_get(const cJSON *obj, const char *name, bool camel);
/* Whole-number JSON value in [lo, hi]. */
bool mock_json_int(const cJSON *v, double lo, double hi);
/* Standard base64 (url_safe: also the URL alphabet), padded, non-empty. */
bool mock_base64_valid(const char *s, bool url_safe);
/* 1..max characters from [A-Za-z0-9_-] plus those in extra. */
bool mock_name_valid(const char *s, size_t max, const char *extra);
/* Decodes %XX (and '+' as space when form) into a new string; NULL on bad input. */
char *mock_url_decode(const char *s, size_t n, bool form);

/* ---- the call a route handles (server.c dispatches, reply.c answers) ---- */

struct mock_call {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;   /* path as MHD decoded it, no query */
    const char *target; /* request target as received: raw path and query */
    const char *body;
    size_t len;
    enum mock_format fmt; /* shape of faults and generic errors */
    char model[1024];     /* from the URL, decoded, where the route has one */
    char action[48];      /* from the URL: "generateContent", "converse-stream", ... */
    /* the plan, filled by the handler */
    unsigned status;
    struct MHD_Response *resp;
    long delay_ms;
    bool hang;
};

/* ---- stream.c: callback-driven bodies (paced events, truncated body) ---- */

/* The steps of every streamed answer, in order; a format renders each to
 * zero or more bytes. WORD repeats per word, TOOL_ARGS twice, FAIL only with
 * the overloaded / exception directives (after the first word). */
enum mock_ev {
    MOCK_EV_START,
    MOCK_EV_GARBAGE,
    MOCK_EV_TEXT_START,
    MOCK_EV_WORD,
    MOCK_EV_FAIL,
    MOCK_EV_TEXT_STOP,
    MOCK_EV_TOOL_START,
    MOCK_EV_TOOL_ARGS,
    MOCK_EV_TOOL_STOP,
    MOCK_EV_FINISH,
    MOCK_EV_USAGE,
    MOCK_EV_DONE,
    MOCK_EV_END
};

/* Renders step ev (arg: the word, or the tool-argument fragment) into *out
 * (malloc'd, *len bytes; NULL when the step sends nothing). Returns false
 * when out of memory. */
typedef bool (*mock_render_fn)(const struct mock_chat *c, enum mock_ev ev, const char *arg,
                               size_t alen, char **out, size_t *len);

struct mock_stream_format {
    const char *content_type;
    mock_render_fn render;
};

/* Takes ownership of *chat (left zeroed). */
struct MHD_Response *mock_stream_response(struct mock_chat *chat,
                                          const struct mock_stream_format *f,
                                          struct MHD_Connection *conn);
/* Announces len bytes but sends only the first `send`, then aborts. Takes body. */
struct MHD_Response *mock_truncated_response(char *body, size_t len, size_t send,
                                             struct MHD_Connection *conn);
/* "event: <name>\n" (if name) + "data: <json>" + eol; takes json. */
char *mock_sse_event(const char *name, char *json, const char *eol, size_t *len);

/* ---- reply.c: responses, error shapes and the common answer ---- */

/* JSON response taking ownership of text (NULL gives a 500-style body). */
struct MHD_Response *mock_reply_json(char *text);
/* An error body in fmt's shape; type NULL derives it from the status. */
struct MHD_Response *mock_error_response(enum mock_format fmt, unsigned status, const char *type,
                                         const char *msg);
void mock_call_error(struct mock_call *call, unsigned status, const char *type, const char *msg);
/* A refused request in fmt's shape. */
void mock_call_refuse(struct mock_call *call, enum mock_format fmt, const struct mock_verdict *v);
void mock_call_reply(struct mock_call *call, unsigned status, struct MHD_Response *r);
/* Plans hang, status, garbage and delay_ms; true when they replace the reply. */
bool mock_call_fault(struct mock_call *call, const struct mock_directives *d);
/* The reply of a status fault in fmt's shape. */
struct MHD_Response *mock_fault_response(enum mock_format fmt, const struct mock_directives *d);

/* How a format answers a chat. */
struct mock_chat_ops {
    char *(*complete)(const struct mock_chat *c); /* unstreamed body */
    struct mock_stream_format stream;
    /* unstreamed reply to the overloaded / exception directive, or NULL */
    struct MHD_Response *(*fail)(const struct mock_chat *c, unsigned *status);
};

/* The common tail of every chat route: faults, then the streamed or
 * unstreamed answer (drop_after included). Takes ownership of *c. */
void mock_call_answer(struct mock_call *call, struct mock_chat *c, const struct mock_chat_ops *ops);

/* ---- openai.c: the OpenAI wire format ---- */

void mock_openai_chat(struct mock_call *call);
void mock_openai_embeddings(struct mock_call *call);
void mock_openai_models(struct mock_call *call);
/* {"error":{...}}; code NULL gives "code":null. */
char *mock_openai_error(const char *message, const char *type, const char *code);

/* ---- anthropic.c / anthropic_parse.c: the Messages API ---- */

/* Parses a Messages body. With vertex_model (Vertex AI's rawPredict) the
 * body has no "model" but "anthropic_version", and the answer names
 * vertex_model. */
bool mock_anthropic_parse(const char *body, size_t len, const char *vertex_model,
                          struct mock_chat *c, struct mock_verdict *v);
/* Answers a parsed request (model: as the answer names it). */
void mock_anthropic_answer(struct mock_call *call, struct mock_chat *c);
void mock_anthropic_messages(struct mock_call *call);
char *mock_anthropic_error(const char *type, const char *msg);

/* ---- gemini.c / gemini_parse.c: the Gemini API ---- */

/* Parses a generateContent body for model (from the URL); vertex: Vertex
 * AI's variant (labels, the wider Schema). */
bool mock_gemini_parse(const char *body, size_t len, const char *model, bool vertex,
                       struct mock_chat *c, struct mock_verdict *v);
/* generateContent / streamGenerateContent after authentication. */
void mock_gemini_generate(struct mock_call *call, bool vertex);
void mock_gemini_route(struct mock_call *call);
char *mock_google_error(unsigned status, const char *msg);

/* ---- bedrock.c / bedrock_parse.c: Bedrock Runtime Converse ---- */

/* Parses a Converse body for model (the decoded modelId of the URL). */
bool mock_bedrock_parse(const char *body, size_t len, const char *model, struct mock_chat *c,
                        struct mock_verdict *v);
void mock_bedrock_route(struct mock_call *call);
/* x-amzn-ErrorType of a status. */
const char *mock_bedrock_error_type(unsigned status);

/* ---- eventstream.c: AWS binary event-stream frames ---- */

uint32_t mock_crc32(uint32_t crc, const void *data, size_t len);
/* One message with string headers (name, value pairs, nh of them) and a
 * payload; *len bytes, caller frees. corrupt: the message CRC is wrong. */
char *mock_es_frame(const char *const *headers, int nh, const char *payload, size_t plen,
                    bool corrupt, size_t *len);

/* ---- sigv4.c: AWS Signature Version 4 verification ---- */

#define MOCK_AWS_ACCESS_KEY "AKIDMOCKEXAMPLE"
#define MOCK_AWS_SECRET_KEY "mock/Secret/KEY+example"

/* true when the call is signed by the mock's credential for service;
 * otherwise v holds the 403 (type = x-amzn-ErrorType). */
bool mock_sigv4_verify(const struct mock_call *call, const char *service, struct mock_verdict *v);

/* ---- oauth.c / vertex.c: Google OAuth token endpoint and Vertex AI ---- */

/* Loads the PEM public key (or certificate) that verifies JWT assertions. */
bool mock_oauth_load_key(const char *path);
void mock_oauth_free(void);
void mock_oauth_token(struct mock_call *call);
/* Counts a POST /token, answered or faulted (server.c calls it). */
void mock_oauth_count(void);
/* true when authorization is "Bearer <live token issued here>". */
bool mock_oauth_bearer_ok(struct MHD_Connection *conn);
/* ---- replies.c: fixed replies per model (/_mock/replies) ---- */

/* NULL on success, else what is wrong with spec. */
const char *mock_replies_set(const cJSON *spec);
char *mock_replies_dump(void); /* malloc'd JSON */
void mock_replies_clear(void);
/* The fixed reply for model (malloc'd; one use consumed), or NULL. */
char *mock_replies_take(const char *model);

/* GET/POST/DELETE /_mock/config. */
char *mock_oauth_config_dump(void);
const char *mock_oauth_config_set(const cJSON *spec);
void mock_oauth_config_reset(void);
void mock_vertex_route(struct mock_call *call);

/* ---- routes.c: which handler answers a URL ---- */

typedef void (*mock_handler_fn)(struct mock_call *call);
/* true when the path is an API path (recorded, subject to faults). */
bool mock_route_is_api(const char *path);
/* The handler for the call's method and URL (NULL: 404), with call->fmt,
 * model and action set. */
mock_handler_fn mock_route_find(struct mock_call *call);

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
/* Builds the reply to a request for a /_mock/ URL. */
struct MHD_Response *mock_control_handle(const char *method, const char *url, const char *body,
                                         size_t len, unsigned *status);

#endif
