/* The pieces of the Bedrock adapter (AWS Bedrock Runtime's Converse and
 * ConverseStream APIs) shared by its files: bedrock.c (the adapter: URL,
 * SigV4 signing, transfer), bedrock_request.c (the caller's request, in
 * OpenAI's chat form, as a Converse body: the conversation),
 * bedrock_params.c (the request's other parameters) and bedrock_answer.c
 * (the codec: a whole Converse answer, or ConverseStream's binary event
 * stream).
 *
 * Threads: gw_bedrock_body and gw_bedrock_codec_state run on the MHD
 * thread; the codec runs on the upstream thread. */
#ifndef GW_PROVIDERS_BEDROCK_H
#define GW_PROVIDERS_BEDROCK_H

#include <stddef.h>

#include "xlate.h"

struct gw_request;

/* r->json (OpenAI's chat form, whichever front door the caller used) as a
 * Converse request body, malloc'd (the caller frees it or hands it to
 * gw_xlate_submit), its length in *len. A parameter Converse cannot express,
 * or a malformed one, is refused: NULL after gw_error_respond (400 naming
 * the parameter). */
char *gw_bedrock_body(struct gw_request *r, size_t *len);

/* For bedrock_request.c and bedrock_params.c: before the conversation is
 * translated, the top-level fields are checked (anything unknown, or that
 * Converse cannot express, refused); after it, inferenceConfig,
 * additionalModelRequestFields and toolConfig are added to body (tool_blocks:
 * the conversation holds toolUse or toolResult blocks). Both return 0, or -1
 * after gw_error_respond. */
int gw_bedrock_check_params(struct gw_request *r);
int gw_bedrock_add_params(struct gw_request *r, int tool_blocks, cJSON *body);

/* A 400 about param (printf-formatted message), and one for something
 * Converse cannot express (why: the reason, one clause). Both return -1. */
int gw_bedrock_fail(struct gw_request *r, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int gw_bedrock_unsupported(struct gw_request *r, const char *param, const char *why);

/* Decodes Converse answers: whole (output.message.content, stopReason,
 * usage) and streamed (the event stream's messageStart, contentBlockStart,
 * contentBlockDelta, contentBlockStop, messageStop and metadata events;
 * exceptions end the answer with the caller's error event). */
extern const struct gw_xlate_codec gw_bedrock_codec;

/* The codec's per-request state, in r's arena (freed with it). */
void *gw_bedrock_codec_state(struct gw_request *r);

#endif
