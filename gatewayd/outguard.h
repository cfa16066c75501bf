/* The output guard (config `output_guard:`, docs/safety.md): phrases an
 * answer must not contain, matched case-insensitively in its text and
 * tool-call arguments as they arrive (textfilter.h), in every mode. The
 * stage (stages/outguard.c) compiles the phrases once per config and arms
 * the guard for each chat and messages request; a match ends the answer:
 *
 * - a stream: the caller's error event (OpenAI's `data: {"error":...}` with
 *   code output_blocked, or Anthropic's `event: error`) where the text
 *   would have gone on, and nothing after it (the provider's answer is
 *   still read to its end and discarded, so usage is counted as usual);
 * - a whole answer: replaced by a 400 error in the caller's format, code
 *   output_blocked (written when the request ends, from the stage's done
 *   hook, which runs before the response is queued).
 *
 * Every block is logged and counted (gw_output_guard_blocks_total); the
 * usage row's error is output_blocked. The pattern is not revealed to the
 * caller, only its number. */
#ifndef GW_OUTGUARD_H
#define GW_OUTGUARD_H

#include <stddef.h>

#include "buf.h"

struct gw_request;
struct gw_ac;

/* A config's guard (the stage's per-config state): its phrases compiled
 * into one matcher, and the longest one's length (what the text filter may
 * hold back). */
struct gw_outguard {
    struct gw_ac *ac;
    size_t max_len;
};

/* Blocked pattern number pattern matched in r's answer: logs and counts it,
 * marks r (output_blocked) and, for a stream, appends the caller's error
 * event to out. On the thread feeding the answer. */
void gw_outguard_block(struct gw_request *r, int pattern, struct gw_buf *out);
/* The blocked answer is over (its writer's close or fail): the usage row
 * records output_blocked. A stream gets here after the stages' done hooks,
 * so the block is not held against the deployment's circuit breaker. */
void gw_outguard_ended(struct gw_request *r);

#endif
