/* What a broken stream delivered: the text of an answer the client received
 * before its upstream failed, read back from the copy the transfer kept of
 * the bytes it handed over (r->kept, durable.h), and its token count. A
 * stream that ends without the provider's usage is billed for that text
 * (providers/xlate.c); healthy streams never come here.
 *
 * The copy is in the caller's wire format: OpenAI chat.completion.chunk
 * events (choices[].delta.content, .refusal and
 * .tool_calls[].function.arguments) or Anthropic events (content_block_delta
 * with a text, thinking or input_json delta). */
#ifndef GW_RECEIVED_H
#define GW_RECEIVED_H

#include <stddef.h>

#include "buf.h"

struct gw_request;
struct gw_received;

/* A reader of one stream's bytes, fed in any chunking; NULL when memory
 * runs out. anthropic: the copy is Anthropic events, else OpenAI chunks.
 * Freed with gw_received_free. */
struct gw_received *gw_received_new(int anthropic);
/* More of the stream; the answer's text found in whole events is appended
 * to the reader's text. Returns 0, or -1 when memory runs out or an event
 * is too large (what was read before counts). */
int gw_received_feed(struct gw_received *rc, const char *p, size_t n);
/* The text read so far (owned by rc; valid until the next feed or free). */
const struct gw_buf *gw_received_text(const struct gw_received *rc);
void gw_received_free(struct gw_received *rc);

/* The tokens of the text r's client received, by the tokenizer of r's model
 * (tokens.h), read from r->kept: all of it, or its first
 * durable_answers.max_bytes when the copy stopped there (then *capped is
 * set; capped may be NULL). 0 when nothing was kept (durable_answers.store:
 * off). Upstream thread, r->mu not held (it is taken to read the copy). */
long long gw_received_tokens(struct gw_request *r, int *capped);

#endif
