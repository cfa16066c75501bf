/* Stage count_tokens: answers POST /v1/messages/count_tokens locally, with
 * the gateway's own prompt count of the translated request (tokens.h, the
 * same count the content policy and rate limits use), in Anthropic's shape
 * {"input_tokens": N}. No upstream call, no usage row. */
#include "pipeline.h"
#include "request.h"
#include "tokens.h"

static enum gw_stage_rc run(struct gw_request *r)
{
    r->status = 200;
    r->content_type = "application/json";
    gw_buf_reset(&r->out);
    gw_buf_printf(&r->out, "{\"input_tokens\":%lld}\n", gw_tokens_input(r));
    return GW_STAGE_RESPOND;
}

const struct gw_stage gw_stage_count_tokens = {
    .name = "count_tokens",
    .apis = GW_API_COUNT_TOKENS,
    .run = run,
};
