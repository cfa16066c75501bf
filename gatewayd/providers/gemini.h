/* The Gemini generateContent wire format, shared by the gemini adapter
 * (gemini.c: the Gemini API) and the Vertex AI adapter (Gemini models on
 * Vertex take the same body and give the same answers on other URLs):
 * the request translation (gemini_request.c for the messages,
 * gemini_params.c for the other fields, gemini-int.h between them) and the
 * answer codec (gemini_answer.c).
 *
 * Thought signatures: Gemini's thinking models attach an opaque
 * thoughtSignature to the function calls they make and want it back with
 * those calls in the next turn's history (Gemini 3 refuses the request
 * without it). OpenAI's and Anthropic's formats have no place for it, so it
 * travels inside the tool call's id, which every client sends back
 * verbatim: "<id>" GW_GEMINI_SIG_SEP "<signature in base64url>". The answer
 * codec writes such ids; the translation splits them again. */
#ifndef GW_GEMINI_H
#define GW_GEMINI_H

#include <stddef.h>

#include "xlate.h"

struct gw_request;

#define GW_GEMINI_SIG_SEP "__thought_sig__"

/* r->json (the chat-completions form, from either front door) as a
 * generateContent request body: malloc'd JSON text (the caller frees it or
 * hands it to gw_xlate_submit), its length in *len. Returns NULL after
 * gw_error_respond: a 400 naming the parameter the Gemini format cannot
 * express, or a 500 when memory runs out. On the MHD thread. */
char *gw_gemini_body(struct gw_request *r, size_t *len);

/* The decoder of GenerateContentResponse: a whole answer, or the SSE events
 * of streamGenerateContent?alt=sse. It keeps its state in r's arena: pass
 * NULL as codec_state to gw_xlate_submit. Not for relay mode. */
extern const struct gw_xlate_codec gw_gemini_codec;

#endif
