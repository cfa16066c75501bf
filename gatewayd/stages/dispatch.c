/* Stage dispatch: the last stage, hands the request to the adapter of the
 * provider the route stage chose: its chat entry, or its embeddings entry
 * for /v1/embeddings (a provider type without one is a 400). A /v1/messages
 * body with an Anthropic-only feature (r->anthropic_only_*, recorded by
 * parse_messages) is refused here with parse_messages' 400 unless it is
 * relayed to an Anthropic-format upstream. gw_dispatch is the same hand-over
 * again for a retry (route.c), on the upstream thread: the caller headers
 * adapters read are captured on the request first, here. */
#include "errors.h"
#include "pipeline.h"
#include "providers/provider.h"
#include "request.h"

const struct gw_provider_ops *gw_provider_for(enum gw_provider_type type)
{
    switch (type) {
    case GW_PROVIDER_OPENAI:
        return &gw_provider_openai;
    case GW_PROVIDER_ECHO:
        return &gw_provider_echo;
    case GW_PROVIDER_ANTHROPIC:
        return &gw_provider_anthropic;
    case GW_PROVIDER_GEMINI:
        return &gw_provider_gemini;
    case GW_PROVIDER_BEDROCK:
        return &gw_provider_bedrock;
    case GW_PROVIDER_VERTEX:
        return &gw_provider_vertex;
    }
    return NULL;
}

int gw_provider_relays_messages(const struct gw_request *r)
{
    if (r->api != GW_API_MESSAGES || !r->provider || r->json_rewritten || r->text_filtered)
        return 0;
    return r->provider->type == GW_PROVIDER_ANTHROPIC ||
           (r->provider->type == GW_PROVIDER_VERTEX && r->deployment &&
            gw_vertex_is_claude(r->deployment->model));
}

enum gw_stage_rc gw_dispatch(struct gw_request *r)
{
    const struct gw_provider_ops *ops = gw_provider_for(r->provider->type);
    if (r->api == GW_API_EMBEDDINGS) {
        if (!ops || !ops->embeddings) {
            gw_error_respond(r, 400, "invalid_request_error", "unsupported_endpoint", "model",
                             "The model '%s' is served by provider '%s' (type %s), which cannot "
                             "create embeddings.",
                             r->model_name, r->provider->name,
                             gw_provider_type_name(r->provider->type));
            return GW_STAGE_RESPOND;
        }
        return ops->embeddings(r);
    }
    if (!ops || !ops->chat) {
        gw_error_respond(r, 400, "invalid_request_error", "unsupported_endpoint", NULL,
                         "Provider '%s' cannot serve chat completions.", r->provider->name);
        return GW_STAGE_RESPOND;
    }
    if (r->anthropic_only_code && !gw_provider_relays_messages(r)) {
        gw_error_respond(r, 400, "invalid_request_error", r->anthropic_only_code,
                         r->anthropic_only_param, "%s", r->anthropic_only_msg);
        return GW_STAGE_RESPOND;
    }
    return ops->chat(r);
}

/* The caller's headers an adapter reads are copied here, on the MHD thread:
 * a retry runs the adapter again on the upstream thread, where the
 * connection's headers must not be touched. */
static const char *captured(struct gw_request *r, const char *name)
{
    const char *v = gw_request_header(r, name);
    return v ? gw_arena_strdup(r->arena, v) : NULL;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    r->anthropic_version = captured(r, "anthropic-version");
    r->anthropic_beta = captured(r, "anthropic-beta");
    return gw_dispatch(r);
}

const struct gw_stage gw_stage_dispatch = {
    .name = "dispatch",
    .apis = GW_API_CHAT | GW_API_MESSAGES | GW_API_EMBEDDINGS,
    .run = run,
};
