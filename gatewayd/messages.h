/* The response side of the /v1/messages front door: a stateful writer that
 * turns what an OpenAI-format answer says (text, tool calls, a finish
 * reason; whole or as stream chunks) into Anthropic's Messages wire format,
 * either one message object or Anthropic's SSE event sequence (message_start,
 * content_block_start, ping, content_block_delta..., content_block_stop,
 * message_delta, message_stop). Every provider that answers a /v1/messages
 * request in OpenAI terms (openai.c, echo.c) writes through it.
 *
 * Threads: a writer belongs to one request and is used by one thread at a
 * time (set up on the MHD thread, fed on the upstream thread). */
#ifndef GW_MESSAGES_H
#define GW_MESSAGES_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "buf.h"

struct gw_request;

struct gw_msg_block {
    int tool;           /* a tool_use block (else text) */
    int tool_index;     /* OpenAI's tool_calls[].index */
    char *id, *name;    /* tool_use blocks; malloc'd */
    struct gw_buf data; /* whole messages: the text, or the tool's argument JSON */
};

struct gw_msg_writer {
    struct gw_request *r;
    int stream;              /* SSE events (else one message at close) */
    long long input_tokens;  /* the gateway's prompt count, for message_start */
    int started, pinged;     /* message_start, ping written */
    int open;                /* the last block is open */
    int ended, failed;       /* closed normally / with an error */
    int n_tools;             /* tool_use blocks so far */
    const char *stop_reason; /* Anthropic's, from the OpenAI finish_reason */
    struct gw_msg_block *blocks;
    size_t n_blocks, cap;
};

/* Sets up w for r (r->model_name, r->id; r->stream picks the mode). Counts
 * the prompt (gw_tokens_input) so call it on the thread running the
 * pipeline. */
void gw_msg_init(struct gw_msg_writer *w, struct gw_request *r);
void gw_msg_free(struct gw_msg_writer *w);

/* The pieces of an answer, in the order they arrive. Streamed events are
 * appended to out at once; for a whole message they are kept until close.
 * Each returns 0, or -1 when the answer cannot be written (out of memory, or
 * a tool call that resumes after another one started: the stream then
 * already ends with an error event). */
int gw_msg_text(struct gw_msg_writer *w, const char *s, size_t n, struct gw_buf *out);
int gw_msg_tool(struct gw_msg_writer *w, int index, const char *id, const char *name,
                const char *args, size_t n, struct gw_buf *out);
/* OpenAI's finish_reason (stop, length, tool_calls, content_filter, ...). */
void gw_msg_finish(struct gw_msg_writer *w, const char *finish_reason, struct gw_buf *out);

/* An OpenAI chat.completion.chunk (or an in-stream {"error":...}), and a
 * whole chat.completion: fed through the calls above. Usage is not read
 * here: the adapter takes it into r. */
int gw_msg_openai_chunk(struct gw_msg_writer *w, const cJSON *chunk, struct gw_buf *out);
int gw_msg_openai_completion(struct gw_msg_writer *w, const cJSON *completion, struct gw_buf *out);

/* The end of a complete answer, with the usage now in r (prompt, completion,
 * cached tokens): the closing events, or the whole message object. */
int gw_msg_close(struct gw_msg_writer *w, struct gw_buf *out);
/* The end of a stream that broke: an Anthropic error event (once). */
void gw_msg_fail(struct gw_msg_writer *w, struct gw_buf *out, const char *code,
                 const char *message);

/* Anthropic's stop_reason for an OpenAI finish_reason. */
const char *gw_msg_stop_reason(const char *finish_reason);

#endif
