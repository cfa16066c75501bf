/* The response side of the /v1/chat/completions front door for providers
 * that do not speak OpenAI's format: a stateful writer that turns the pieces
 * of an answer (text, tool calls, a finish reason; whole or as they stream
 * in) into OpenAI's chat.completion object or its chat.completion.chunk SSE
 * stream ending in `data: [DONE]`. The mirror of messages.h, with the same
 * calls; answer.h picks one of the two for a request.
 *
 * Threads: a writer belongs to one request and is used by one thread at a
 * time (set up on the MHD thread, fed on the upstream thread). */
#ifndef GW_COMPLETIONS_H
#define GW_COMPLETIONS_H

#include <stddef.h>

#include "buf.h"

struct gw_request;

struct gw_oai_tool {
    int key;            /* the caller's identity for the call (a block index) */
    char *id, *name;    /* malloc'd */
    struct gw_buf args; /* whole answers: the argument JSON */
};

struct gw_oai_writer {
    struct gw_request *r;
    int stream;
    long long created;      /* unix seconds */
    long long input_tokens; /* the gateway's prompt count, if upstream says none */
    int started;            /* the role chunk is out (streams) */
    int ended, failed;
    const char *finish; /* OpenAI's finish_reason */
    struct gw_buf text; /* whole answers: the text */
    int has_text;
    struct gw_oai_tool *tools;
    size_t n_tools, cap;
};

void gw_oai_init(struct gw_oai_writer *w, struct gw_request *r);
void gw_oai_free(struct gw_oai_writer *w);

/* Text, in order. Returns 0 or -1 (out of memory). */
int gw_oai_text(struct gw_oai_writer *w, const char *s, size_t n, struct gw_buf *out);
/* A piece of the tool call known as key: the first piece of a key names it
 * (id may be NULL or empty: one is made), later pieces add argument JSON. */
int gw_oai_tool(struct gw_oai_writer *w, int key, const char *id, const char *name,
                const char *args, size_t n, struct gw_buf *out);
/* stop, length, tool_calls or content_filter. */
void gw_oai_finish(struct gw_oai_writer *w, const char *finish_reason, struct gw_buf *out);
/* The end of a complete answer, usage now in r: the finish chunk if none was
 * written, the usage chunk if the client asked for it, [DONE]; or the whole
 * chat.completion object. */
int gw_oai_close(struct gw_oai_writer *w, struct gw_buf *out);
/* The end of a stream that broke: an error event (once). */
void gw_oai_fail(struct gw_oai_writer *w, struct gw_buf *out, const char *code,
                 const char *message);

#endif
