/* The caller's-format answer: one writer or the other, by front door (see
 * answer.h). */
#include "answer.h"

#include <string.h>

#include "request.h"

void gw_answer_init(struct gw_answer *a, struct gw_request *r)
{
    memset(a, 0, sizeof *a);
    a->anthropic = r->api == GW_API_MESSAGES;
    if (a->anthropic)
        gw_msg_init(&a->msg, r);
    else
        gw_oai_init(&a->oai, r);
}

void gw_answer_free(struct gw_answer *a)
{
    gw_msg_free(&a->msg);
    gw_oai_free(&a->oai);
}

int gw_answer_text(struct gw_answer *a, const char *s, size_t n, struct gw_buf *out)
{
    return a->anthropic ? gw_msg_text(&a->msg, s, n, out) : gw_oai_text(&a->oai, s, n, out);
}

int gw_answer_tool(struct gw_answer *a, int key, const char *id, const char *name, const char *args,
                   size_t n, struct gw_buf *out)
{
    if (a->anthropic)
        return gw_msg_tool(&a->msg, key, id, name, args ? args : "", n, out);
    return gw_oai_tool(&a->oai, key, id, name, args, n, out);
}

void gw_answer_finish(struct gw_answer *a, const char *finish_reason, struct gw_buf *out)
{
    if (a->anthropic)
        gw_msg_finish(&a->msg, finish_reason, out);
    else
        gw_oai_finish(&a->oai, finish_reason, out);
}

int gw_answer_close(struct gw_answer *a, struct gw_buf *out)
{
    return a->anthropic ? gw_msg_close(&a->msg, out) : gw_oai_close(&a->oai, out);
}

void gw_answer_fail(struct gw_answer *a, struct gw_buf *out, const char *code, const char *message)
{
    if (a->anthropic)
        gw_msg_fail(&a->msg, out, code, message);
    else
        gw_oai_fail(&a->oai, out, code, message);
}

const char *gw_answer_finish_from_anthropic(const char *s)
{
    if (!s)
        return "stop";
    if (strcmp(s, "max_tokens") == 0 || strcmp(s, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(s, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(s, "refusal") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}
