/* The provider adapter interface: one implementation per wire format, each
 * in its own file. An adapter turns the validated request into the
 * provider's call and the provider's answer into the caller's format. */
#ifndef GW_PROVIDER_H
#define GW_PROVIDER_H

#include "config.h"
#include "pipeline.h"

struct gw_request;

struct gw_provider_ops {
    const char *type;
    /* POST /v1/chat/completions: answers at once (RESPOND) or starts an
     * upstream transfer (ASYNC). */
    enum gw_stage_rc (*chat)(struct gw_request *r);
    /* POST /v1/embeddings (r->json is the checked OpenAI-format body): the
     * same contract; sets r->prompt_tokens (completion stays 0). NULL: the
     * provider type cannot embed (dispatch answers 400). */
    enum gw_stage_rc (*embeddings)(struct gw_request *r);
};

extern const struct gw_provider_ops gw_provider_echo, gw_provider_openai, gw_provider_anthropic,
    gw_provider_gemini, gw_provider_bedrock, gw_provider_vertex;

const struct gw_provider_ops *gw_provider_for(enum gw_provider_type type);

/* Hands r to the adapter of r->provider (chat, or embeddings), as the
 * dispatch stage does; also what a retry runs, on the upstream thread.
 * Adapters read the caller's headers only from the request
 * (r->anthropic_version, r->anthropic_beta), never from the connection. */
enum gw_stage_rc gw_dispatch(struct gw_request *r);

/* The request is a /v1/messages call whose raw body goes upstream as the
 * caller wrote it (only the model changed): the chosen provider speaks
 * Anthropic's format (type anthropic, or vertex with a deployment model
 * named claude*), no stage rewrote the request (r->json_rewritten) and
 * none filters the answer's text (r->text_filtered).
 * Needs r->provider and r->deployment (route stage). */
int gw_provider_relays_messages(const struct gw_request *r);

/* A Vertex deployment model that is Anthropic's (its name starts with
 * "claude"); any other is Google's. */
int gw_vertex_is_claude(const char *model);

#endif
