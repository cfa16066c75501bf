/* The caller's-format answer: one writer or the other, by front door, with
 * the request's text filters in front of both (see answer.h). */
#include "answer.h"

#include <string.h>

#include "outguard.h"
#include "request.h"
#include "textfilter.h"

/* ---- the writers ---------------------------------------------------------- */

static struct gw_request *request_of(const struct gw_answer *a)
{
    return a->anthropic ? a->msg.r : a->oai.r;
}

static int write_text(void *ctx, const char *s, size_t n, struct gw_buf *out)
{
    struct gw_answer *a = ctx;
    return a->anthropic ? gw_msg_text(&a->msg, s, n, out) : gw_oai_text(&a->oai, s, n, out);
}

static int write_tool(void *ctx, int key, const char *id, const char *name, const char *args,
                      size_t n, struct gw_buf *out)
{
    struct gw_answer *a = ctx;
    if (a->anthropic)
        return gw_msg_tool(&a->msg, key, id, name, args ? args : "", n, out);
    return gw_oai_tool(&a->oai, key, id, name, args, n, out);
}

/* The guard stopped the answer: its error (a stream's event now; a whole
 * answer's body when the request ends, outguard.h), and the writer takes
 * nothing more. */
static void blocked(void *ctx, int pattern, struct gw_buf *out)
{
    struct gw_answer *a = ctx;
    gw_outguard_block(request_of(a), pattern, out);
    if (a->anthropic)
        a->msg.failed = 1;
    else
        a->oai.failed = 1;
}

static const struct gw_textfilter_sink sink = {
    .text = write_text,
    .tool = write_tool,
    .blocked = blocked,
};

/* ---- the answer ------------------------------------------------------------ */

void gw_answer_init(struct gw_answer *a, struct gw_request *r)
{
    memset(a, 0, sizeof *a);
    a->anthropic = r->api == GW_API_MESSAGES;
    if (a->anthropic)
        gw_msg_init(&a->msg, r);
    else
        gw_oai_init(&a->oai, r);
    if (r->text_filtered) { /* stages/pii.c, stages/outguard.c */
        const struct gw_outguard *g = r->output_guard;
        a->tf = gw_textfilter_new(r->pii_map, g ? g->ac : NULL, g ? g->max_len : 0, &sink, a);
        a->tf_missing = !a->tf;
    }
}

void gw_answer_free(struct gw_answer *a)
{
    gw_msg_free(&a->msg);
    gw_oai_free(&a->oai);
    gw_textfilter_free(a->tf);
    a->tf = NULL;
}

int gw_answer_text(struct gw_answer *a, const char *s, size_t n, struct gw_buf *out)
{
    if (a->tf_missing)
        return -1; /* never unfiltered text where filters were asked for */
    return a->tf ? gw_textfilter_text(a->tf, s, n, out) : write_text(a, s, n, out);
}

int gw_answer_tool(struct gw_answer *a, int key, const char *id, const char *name, const char *args,
                   size_t n, struct gw_buf *out)
{
    if (a->tf_missing)
        return -1;
    if (a->tf)
        return gw_textfilter_tool(a->tf, key, id, name, args, n, out);
    return write_tool(a, key, id, name, args, n, out);
}

void gw_answer_finish(struct gw_answer *a, const char *finish_reason, struct gw_buf *out)
{
    if (a->tf)
        gw_textfilter_flush(a->tf, out);
    if (a->anthropic)
        gw_msg_finish(&a->msg, finish_reason, out);
    else
        gw_oai_finish(&a->oai, finish_reason, out);
}

int gw_answer_close(struct gw_answer *a, struct gw_buf *out)
{
    if (a->tf && gw_textfilter_flush(a->tf, out) != 0)
        return -1;
    if (gw_textfilter_blocked(a->tf)) {
        gw_outguard_ended(request_of(a));
        return 0;
    }
    return a->anthropic ? gw_msg_close(&a->msg, out) : gw_oai_close(&a->oai, out);
}

void gw_answer_fail(struct gw_answer *a, struct gw_buf *out, const char *code, const char *message)
{
    if (a->tf)
        gw_textfilter_flush(a->tf, out);
    if (gw_textfilter_blocked(a->tf)) {
        gw_outguard_ended(request_of(a));
        return;
    }
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
