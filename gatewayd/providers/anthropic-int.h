/* What the files of the anthropic adapter share and no other module needs:
 * the two ways of building the upstream body (see anthropic.h), and the
 * state of a translation that anthropic_request.c (messages) and
 * anthropic_params.c (top-level parameters) fill together. */
#ifndef GW_PROVIDERS_ANTHROPIC_INT_H
#define GW_PROVIDERS_ANTHROPIC_INT_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct gw_request;

/* anthropic_relay.c: the caller's raw Messages body with the deployment's
 * model spliced in (for_vertex: "model" removed, "anthropic_version" added).
 * Returns a malloc'd body, or NULL after gw_error_respond. */
char *gw_anthropic_relay_body(struct gw_request *r, int for_vertex, size_t *len);

/* anthropic_request.c: r->json (an OpenAI chat-completions body) as a
 * Messages body. Returns a malloc'd body, or NULL after gw_error_respond
 * (a 400 naming the parameter Anthropic cannot express). */
char *gw_anthropic_translate(struct gw_request *r, int for_vertex, size_t *len);

/* ---- one translation ----------------------------------------------------- */

struct gw_anth_tr {
    struct gw_request *r;
    const char *code; /* why it was refused, for the 400 */
    char param[128];  /* the field the last check was about */
    char msg[512];
    cJSON *system;    /* system text blocks, in order */
    int system_plain; /* no system block carries cache_control */
    cJSON *messages;
};

/* Records why the request cannot go to the provider (about t->param).
 * Returns -1. */
int gw_anth_refuse(struct gw_anth_tr *t, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets t->param, the field the next check is about. Returns 0. */
int gw_anth_at(struct gw_anth_tr *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* t->param exists in OpenAI's format but not in Anthropic's: why. Returns -1. */
int gw_anth_cannot(struct gw_anth_tr *t, const char *why);
/* Copies a part's (or tool's) cache_control hint onto what was made of it. */
void gw_anth_keep_cache_control(const cJSON *from, cJSON *to);

/* anthropic_params.c, in the order the body is built: refuses what cannot
 * be expressed (before anything is built), then adds max_tokens, then (after
 * the messages) stop_sequences, sampling, tools, tool_choice, metadata,
 * service_tier and stream. Each returns 0, or -1 with t describing the
 * refusal. */
int gw_anth_check_params(struct gw_anth_tr *t, const cJSON *in);
int gw_anth_max_tokens(struct gw_anth_tr *t, const cJSON *in, cJSON *out);
int gw_anth_options(struct gw_anth_tr *t, const cJSON *in, cJSON *out);

#endif
