/* The upstream transfer of every adapter whose provider does not speak the
 * caller's format (anthropic, gemini, bedrock, vertex): it runs the call on
 * the upstream worker, hands the answer to the adapter's codec (whole, or
 * stream bytes as they arrive) and the codec's pieces to the caller's writer
 * (answer.h); it owns status handling, the response-size bound,
 * backpressure, broken streams and error answers, so a codec only knows its
 * provider's format.
 *
 * Relay mode (same format on both sides, e.g. /v1/messages to Anthropic):
 * the provider's bytes go to the client unchanged and the codec only
 * observes them, for usage and for knowing the answer is complete.
 *
 * Retries: an answer that failed before anything reached the client (the
 * call refused or timed out, a 429/500/502/503/504, a 400 saying the
 * context window is exceeded; a stream only starts on a 2xx head) is not
 * answered: route.h's gw_route_retry picks the next target and the adapter
 * runs again after the wait (gw_upstream_after), until it succeeds or
 * nothing is left; then the last error is the answer. A stream that broke
 * after its head is never retried; it is billed for the prompt and for the
 * text its client received, by the gateway's count where the provider's
 * usage did not come (received.h), before the done hooks run.
 *
 * Threads: gw_xlate_submit runs on the MHD thread (or the upstream thread,
 * for a retry); every codec callback runs on the upstream thread. */
#ifndef GW_XLATE_H
#define GW_XLATE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "answer.h"
#include "pipeline.h"
#include "sse.h"

struct gw_request;
struct gw_xlate;
struct curl_slist;

struct gw_xlate_codec {
    /* One SSE event of a stream (data: its joined data lines). NULL for
     * providers that do not stream SSE. */
    int (*event)(struct gw_xlate *x, const char *data, size_t n);
    /* Raw stream bytes, for other framings (Bedrock's event stream); used
     * when event is NULL. */
    int (*feed)(struct gw_xlate *x, const char *p, size_t n);
    /* A whole 2xx answer. */
    int (*whole)(struct gw_xlate *x, const cJSON *body);
    /* The callbacks return 0, or -1 to abort the transfer (x->fail_msg set
     * by gw_xlate_bad_answer says why); in relay mode event() may also
     * return GW_XLATE_SKIP to keep that event from the client. They feed the answer with
     * gw_answer_* on x->out, set r's usage fields, and set x->complete when
     * the provider has said its answer is complete. */
    /* whole() writes the caller's complete answer to x->out itself (an
     * answer that is not a chat answer: embeddings), so no chat answer is
     * closed around it. */
    int writes_answer;
};

/* From a codec's event() in relay mode: do not pass this event on. */
#define GW_XLATE_SKIP 1

struct gw_xlate {
    struct gw_request *r;
    const struct gw_xlate_codec *codec;
    void *codec_state; /* the codec's, in r's arena */
    int relay;         /* same format: pass bytes through, codec observes */
    struct gw_answer ans;
    struct gw_buf *out; /* where pieces go during a callback */
    int complete;       /* the provider's answer is complete */
    int failed;         /* an error event has been written */
    /* internal */
    struct gw_sse sse;
    struct gw_buf body, relay_buf;
    long status;
    int too_large;
    char retry_after[32]; /* the provider's Retry-After, "" if none */
    char fail_msg[256];
};

/* Sends body (malloc'd, ownership passes) to url with headers (ownership
 * passes) and the model's timeouts; the answer goes through codec. The
 * adapter has checked and translated the request; codec_state is kept in
 * x->codec_state. Returns ASYNC, or RESPOND with an error set. */
enum gw_stage_rc gw_xlate_submit(struct gw_request *r, const struct gw_xlate_codec *codec,
                                 void *codec_state, int relay, const char *url,
                                 struct curl_slist *headers, char *body, size_t body_len);

/* The provider reported an error inside a stream (or a whole answer that
 * says it failed): ends the answer with the caller's error event. */
void gw_xlate_fail(struct gw_xlate *x, const char *code, const char *message);
/* The provider's answer cannot be understood: remembers why (for the error
 * the caller gets) and returns -1, for a codec to return. */
int gw_xlate_bad_answer(struct gw_xlate *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The decoding steps of the transfer, on x->out (also driven directly by
 * the provider_answer fuzz target):
 * stream bytes through the codec (SSE events or its raw feed); returns 0,
 * or non-zero with x->fail_msg saying why; */
int gw_xlate_decode(struct gw_xlate *x, const char *p, size_t n);
/* the end of a stream: the caller's error event (code; detail: why) when
 * the provider's answer is incomplete, else the closing events; */
void gw_xlate_end(struct gw_xlate *x, const char *code, const char *detail);
/* a whole 2xx answer: decoded and closed (nothing closed when relayed or
 * when the codec writes the answer itself); -1 when it cannot be read. */
int gw_xlate_decode_whole(struct gw_xlate *x, const cJSON *body);

/* From the upstream thread, after a stage answered at once (RESPOND): the
 * answer (or error) now in r is ready, and nothing more will be added. */
void gw_xlate_complete(struct gw_request *r);

/* A token count from a provider's JSON: sane numbers only. */
void gw_xlate_count(long long *dst, const cJSON *v);

#endif
