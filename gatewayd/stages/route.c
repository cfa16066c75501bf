/* Stage route: resolves the requested model name to a configured model and
 * one of its deployments (provider + upstream model name). A name of the
 * form "PROVIDER/MODEL" reaches that provider's MODEL directly. Strategies
 * over several deployments come with the routing work; today the first
 * deployment is used. */
#include <string.h>

#include "errors.h"
#include "pipeline.h"
#include "request.h"
#include "route.h"

int gw_route_model_allowed(const struct gw_request *r, const char *model)
{
    if (!r->who.models)
        return 1;
    for (const char **m = r->who.models; *m; m++)
        if (strcmp(*m, model) == 0)
            return 1;
    return 0;
}

/* "provider/model" -> a one-deployment model made for this request. */
static const struct gw_model_cfg *direct_model(struct gw_request *r, const char *name)
{
    const char *slash = strchr(name, '/');
    if (!slash || slash == name || !slash[1])
        return NULL;
    char *prov = gw_arena_strndup(r->arena, name, (size_t)(slash - name));
    int idx = gw_config_provider_index(r->cfg, prov);
    if (idx < 0)
        return NULL;
    struct gw_deployment_cfg *d = gw_arena_calloc(r->arena, sizeof *d);
    d->provider_name = r->cfg->providers[idx].name;
    d->model = slash + 1;
    d->provider = idx;
    struct gw_model_cfg *m = gw_arena_calloc(r->arena, sizeof *m);
    m->name = name;
    m->deployments = d;
    m->n_deployments = 1;
    m->timeouts = r->cfg->timeouts;
    return m;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    const struct gw_model_cfg *m = gw_config_model(r->cfg, r->model_name);
    if (!m)
        m = direct_model(r, r->model_name);
    if (!m || !gw_route_model_allowed(r, r->model_name)) {
        gw_error_respond(r, 404, "invalid_request_error", "model_not_found", "model",
                         "The model '%s' does not exist or you do not have access to it.",
                         r->model_name);
        return GW_STAGE_RESPOND;
    }
    r->model = m;
    r->deployment = &m->deployments[0];
    r->provider = &r->cfg->providers[r->deployment->provider];
    gw_request_add_header(r, "x-gw-provider", r->provider->name);
    return GW_STAGE_CONTINUE;
}

const struct gw_stage gw_stage_route = {
    .name = "route",
    .apis = GW_API_CHAT | GW_API_MESSAGES | GW_API_COUNT_TOKENS | GW_API_EMBEDDINGS,
    .run = run,
};
