/* The prompt library's hot snapshot and its rendering into a request
 * (docs/prompts.md). Every live version of every prompt is held in memory,
 * parsed once; the prompt stage (stages/prompt.c) renders from it without a
 * lock and without SQLite. The snapshot is rebuilt from the database and
 * published after every admin change (admin_prompts.c) and at start-up. */
#ifndef GW_PROMPTS_H
#define GW_PROMPTS_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct gw_request;

#define GW_PROMPT_MAX_NAME 64

/* Reads every live prompt version from the database at db_path and publishes
 * them. Returns 0, or -1 with err set (the previous snapshot stays). */
int gw_prompts_reload(const char *db_path, char *err, size_t errlen);
/* Frees the snapshot; no request may be running. */
void gw_prompts_shutdown(void);
/* Prompts and versions in the snapshot now. */
void gw_prompts_counts(long *prompts, long *versions);

/* 1 if s is a valid prompt name: 1 to 64 letters, digits, '_', '-', '.',
 * starting with a letter or digit. */
int gw_prompt_name_valid(const char *s);

/* True when the request names a template: an x-gw-prompt header, or a
 * "prompt" member in body (the caller's JSON object). The parse stages use
 * it to let a model or messages be left to the template. On the thread
 * running the pipeline only (it reads a header). */
int gw_prompt_named(struct gw_request *r, const cJSON *body);

/* Why a template could not be applied: the HTTP status (400, 404, or 413
 * when the values, as often as the template uses them, pass
 * limits.max_body_bytes), the
 * error code and param of the error body, and its message. */
struct gw_prompt_error {
    int status;
    const char *code, *param;
    char msg[600];
};

/* Applies the template ref ("NAME": the active version, or "NAME@VERSION")
 * to r->json (the chat-completions form) with inputs (a JSON object, or
 * NULL for none): checks the inputs against the version's variables,
 * renders its texts, puts its system message and messages before the
 * caller's, adds its params where the request has none, and sets the model
 * when the request has none or the template forces its own. Removes
 * "prompt" and "inputs" from r->json and sets r->json_rewritten,
 * r->model_name, r->prompt_name and r->prompt_version (in r's arena; the
 * version as soon as it is known, so a refused request's usage row names
 * it). Returns 0, or -1 with *e filled. */
int gw_prompts_apply(struct gw_request *r, const char *ref, const cJSON *inputs,
                     struct gw_prompt_error *e);

#endif
