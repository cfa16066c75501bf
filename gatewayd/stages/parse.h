/* What the OpenAI-format body parsers (parse.c for chat completions,
 * parse_embeddings.c) share. */
#ifndef GW_STAGES_PARSE_H
#define GW_STAGES_PARSE_H

#include "pipeline.h"

struct gw_request;

/* Parses r->body into r->json (owned by the request) and checks what every
 * OpenAI-format body has: a JSON object, nothing after it, and a non-empty
 * string `model` (copied into r->model_name). CONTINUE, or RESPOND with a
 * 400 in OpenAI's shape naming the field. */
enum gw_stage_rc gw_parse_openai_body(struct gw_request *r);

#endif
