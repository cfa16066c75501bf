/* A cached answer played back to a caller (cache.h): the neutral form fed
 * to the caller's answer writer (answer.h), which writes OpenAI's
 * chat.completion or its chunk stream for /v1/chat/completions and
 * Anthropic's message or its event stream for /v1/messages, as it does for
 * a provider's answer. The ids, the creation time and the model name are
 * the replaying request's own; the usage is the cached answer's (what it
 * cost when it was made), and the stream carries the whole text in one
 * delta, since it is all there. */
#include <string.h>

#include "answer.h"
#include "cache.h"
#include "request.h"

int gw_cache_replay(struct gw_request *r, const struct gw_cache_answer *a, struct gw_buf *out)
{
    /* the writers read the usage from r at close: lend them the answer's */
    long long saved[4] = {r->prompt_tokens, r->completion_tokens, r->cached_tokens,
                          r->cache_write_tokens};
    r->prompt_tokens = a->prompt_tokens;
    r->completion_tokens = a->completion_tokens;
    r->cached_tokens = r->cache_write_tokens = 0;
    struct gw_answer ans;
    gw_answer_init(&ans, r);
    if (a->prompt_tokens > 0 && ans.anthropic) /* message_start says it too */
        ans.msg.input_tokens = a->prompt_tokens;
    int rc = 0;
    if (a->content_len)
        rc |= gw_answer_text(&ans, a->content, a->content_len, out);
    for (size_t i = 0; i < a->n_tools && rc == 0; i++) {
        const struct gw_cache_tool *t = &a->tools[i];
        const char *args = t->args ? t->args : "";
        rc |= gw_answer_tool(&ans, (int)i, t->id, t->name, args, strlen(args), out);
    }
    gw_answer_finish(&ans, a->finish ? a->finish : "stop", out);
    rc |= gw_answer_close(&ans, out);
    gw_answer_free(&ans);
    r->prompt_tokens = saved[0];
    r->completion_tokens = saved[1];
    r->cached_tokens = saved[2];
    r->cache_write_tokens = saved[3];
    return rc ? -1 : 0;
}
