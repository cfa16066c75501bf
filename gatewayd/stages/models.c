/* Stage models: answers GET /v1/models with the models the caller's key may
 * use, in OpenAI's list format. */
#include "buf.h"
#include "pipeline.h"
#include "request.h"
#include "route.h"

static enum gw_stage_rc run(struct gw_request *r)
{
    const struct gw_config *cfg = r->cfg;
    long long created = gw_wall_ms() / 1000;
    gw_buf_puts(&r->out, "{\"object\":\"list\",\"data\":[");
    int first = 1;
    for (size_t i = 0; i < cfg->n_models; i++) {
        const struct gw_model_cfg *m = &cfg->models[i];
        if (!gw_route_model_allowed(r, m->name))
            continue;
        gw_buf_puts(&r->out, first ? "{\"id\":" : ",{\"id\":");
        gw_buf_json_str(&r->out, m->name);
        gw_buf_printf(&r->out, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":", created);
        gw_buf_json_str(&r->out, cfg->providers[m->deployments[0].provider].name);
        gw_buf_puts(&r->out, "}");
        first = 0;
    }
    gw_buf_puts(&r->out, "]}\n");
    r->status = 200;
    r->content_type = "application/json";
    return GW_STAGE_RESPOND;
}

const struct gw_stage gw_stage_models = {
    .name = "models",
    .apis = GW_API_MODELS,
    .run = run,
};
