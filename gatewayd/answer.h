/* An answer in the caller's wire format, whatever the provider spoke: the
 * adapters of non-OpenAI providers decode their provider's answer into
 * pieces (text, tool-call fragments, a finish reason, usage in r) and feed
 * them here; the answer writes them as OpenAI chat completions
 * (completions.h) or as Anthropic messages (messages.h), chosen by the
 * endpoint the caller used (r->api).
 *
 * Finish reasons use OpenAI's names: stop, length, tool_calls,
 * content_filter. Usage is read from r (prompt_tokens counting the whole
 * prompt, cached_tokens read from and cache_write_tokens written to the
 * provider's prompt cache, completion_tokens) at close.
 *
 * Text and tool-call arguments go through the request's text filters
 * (textfilter.h: PII restoration, the output guard) when it has any
 * (r->text_filtered); a blocked answer ends with the guard's error
 * (outguard.h), and a finish reason or the end lets out what the filters
 * held back. */
#ifndef GW_ANSWER_H
#define GW_ANSWER_H

#include <stddef.h>

#include "buf.h"
#include "completions.h"
#include "messages.h"

struct gw_request;

struct gw_textfilter;

struct gw_answer {
    int anthropic; /* a /v1/messages caller */
    struct gw_msg_writer msg;
    struct gw_oai_writer oai;
    /* the request's text filters (PII restore, output guard: textfilter.h)
     * that text and tool arguments go through first; NULL: none */
    struct gw_textfilter *tf;
    int tf_missing; /* the request needs filters that could not be made */
};

/* Counts the prompt (gw_tokens_input): call it on the pipeline's thread. */
void gw_answer_init(struct gw_answer *a, struct gw_request *r);
void gw_answer_free(struct gw_answer *a);

/* Each returns 0, or -1 when the answer cannot be written (out of memory, a
 * tool call resuming after another began for an Anthropic caller). */
int gw_answer_text(struct gw_answer *a, const char *s, size_t n, struct gw_buf *out);
/* A fragment of the tool call known to the provider as key (its block or
 * part index); the first fragment of a key carries id (may be NULL) and
 * name; args is a piece of the argument JSON (may be empty). */
int gw_answer_tool(struct gw_answer *a, int key, const char *id, const char *name, const char *args,
                   size_t n, struct gw_buf *out);
void gw_answer_finish(struct gw_answer *a, const char *finish_reason, struct gw_buf *out);
int gw_answer_close(struct gw_answer *a, struct gw_buf *out);
/* A stream that broke: the caller's error event, once. */
void gw_answer_fail(struct gw_answer *a, struct gw_buf *out, const char *code, const char *message);

/* OpenAI's finish_reason for Anthropic's stop_reason (end_turn, max_tokens,
 * stop_sequence, tool_use, refusal, pause_turn). */
const char *gw_answer_finish_from_anthropic(const char *stop_reason);

#endif
