/* Anthropic's Messages API as an upstream, in the pieces other adapters
 * reuse (Vertex AI serves Anthropic models with the same bodies and
 * answers): the request body for the upstream, the answer codec, and the
 * submit that picks relay or translation.
 *
 * A /v1/messages caller already speaks the format: its body is relayed
 * (only the model changed) and the answer passed back unchanged. A
 * /v1/chat/completions caller's OpenAI body is translated into a Messages
 * body (anthropic_request.c, anthropic_params.c) and the answer decoded back
 * (anthropic_answer.c).
 *
 * Threads: gw_anthropic_body and gw_anthropic_submit run on the MHD thread;
 * the codec runs on the upstream thread. */
#ifndef GW_PROVIDERS_ANTHROPIC_H
#define GW_PROVIDERS_ANTHROPIC_H

#include <stddef.h>

#include "pipeline.h"
#include "xlate.h"

struct gw_request;
struct curl_slist;

/* The caller speaks Anthropic's format (/v1/messages), and no stage
 * rewrote the request or filters the answer's text (r->json_rewritten,
 * r->text_filtered): relay, don't translate. */
int gw_anthropic_relays(const struct gw_request *r);

/* The body to send upstream, malloc'd (the caller frees it, or hands it to
 * gw_xlate_submit), its length in *len. Relay: the caller's raw body with the
 * value of its top-level "model" replaced by the deployment's model.
 * Translation: r->json (OpenAI) as a Messages body. for_vertex: no "model"
 * (Vertex names the model in the URL) and "anthropic_version" set to the
 * provider's anthropic_version. On refusal (a parameter Anthropic cannot
 * express, a malformed field) returns NULL after gw_error_respond. */
char *gw_anthropic_body(struct gw_request *r, int for_vertex, size_t *len);

/* Decodes Anthropic answers (whole messages and SSE events): text, tool_use
 * blocks, stop_reason, usage (input + cache reads + cache writes as the whole
 * prompt), in-stream error events. In relay mode it only observes usage and
 * completion. */
extern const struct gw_xlate_codec gw_anthropic_codec;

/* Starts the transfer with gw_anthropic_codec, in relay mode when
 * gw_anthropic_relays(r): url, headers and body as for gw_xlate_submit
 * (ownership passes). Returns ASYNC, or RESPOND with an error set. */
enum gw_stage_rc gw_anthropic_submit(struct gw_request *r, const char *url,
                                     struct curl_slist *headers, char *body, size_t len);

#endif
