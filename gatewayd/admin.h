/* The admin server: gwctl's UNIX socket (mode 0600, peer credentials
 * checked), speaking the line-delimited JSON protocol of
 * docs/admin-protocol.md. Commands themselves live in admin_cmds.c. */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

struct gw_config;

/* What a command handler gets. */
struct gw_admin_ctx {
    sqlite3 *db; /* read-only connection of this admin session */
    const char *db_path;
    const char *err_code; /* set by a failing handler */
    char err_msg[512];
};

typedef int (*gw_admin_reload_fn)(char *err, size_t errlen);

int gw_admin_start(const struct gw_config *cfg, const char *db_path, gw_admin_reload_fn reload,
                   char *err, size_t errlen);
void gw_admin_stop(void);

/* admin_cmds.c: runs one command; returns the result object, or NULL with
 * ctx->err_code / ctx->err_msg set. */
cJSON *gw_admin_dispatch(struct gw_admin_ctx *ctx, const char *cmd, const cJSON *args);
/* Sets the error of ctx and returns NULL (for handlers' one-line returns). */
cJSON *gw_admin_fail(struct gw_admin_ctx *ctx, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
extern gw_admin_reload_fn gw_admin_reload;
/* A command argument that must be a non-empty string when present: 1 with
 * *out set (it belongs to args), 0 when absent or null, -1 (error set on
 * ctx) when it is anything else. */
int gw_admin_arg_str(struct gw_admin_ctx *ctx, const cJSON *args, const char *name,
                     const char **out);

/* admin_requests.c: request.show, a request's stored answer. */
cJSON *gw_admin_cmd_request_show(struct gw_admin_ctx *ctx, const cJSON *args);

/* admin_prompts.c: the prompt library (prompt.create, .list, .show, .diff,
 * .rollback, .delete). */
cJSON *gw_admin_cmd_prompt_create(struct gw_admin_ctx *ctx, const cJSON *args);
cJSON *gw_admin_cmd_prompt_list(struct gw_admin_ctx *ctx, const cJSON *args);
cJSON *gw_admin_cmd_prompt_show(struct gw_admin_ctx *ctx, const cJSON *args);
cJSON *gw_admin_cmd_prompt_diff(struct gw_admin_ctx *ctx, const cJSON *args);
cJSON *gw_admin_cmd_prompt_rollback(struct gw_admin_ctx *ctx, const cJSON *args);
cJSON *gw_admin_cmd_prompt_delete(struct gw_admin_ctx *ctx, const cJSON *args);

/* admin_rag.c: RAG collections (rag.add, .list, .remove, .search). */
cJSON *gw_admin_cmd_rag_add(struct gw_admin_ctx *ctx, const cJSON *args);
cJSON *gw_admin_cmd_rag_list(struct gw_admin_ctx *ctx, const cJSON *args);
cJSON *gw_admin_cmd_rag_remove(struct gw_admin_ctx *ctx, const cJSON *args);
cJSON *gw_admin_cmd_rag_search(struct gw_admin_ctx *ctx, const cJSON *args);

/* admin_cache.c: the response cache (cache.stats, .list, .show, .purge). */
cJSON *gw_admin_cmd_cache_stats(struct gw_admin_ctx *ctx, const cJSON *args);
cJSON *gw_admin_cmd_cache_list(struct gw_admin_ctx *ctx, const cJSON *args);
cJSON *gw_admin_cmd_cache_show(struct gw_admin_ctx *ctx, const cJSON *args);
cJSON *gw_admin_cmd_cache_purge(struct gw_admin_ctx *ctx, const cJSON *args);

/* admin_cache_search.c: cache.search, the cached questions nearest a text. */
cJSON *gw_admin_cmd_cache_search(struct gw_admin_ctx *ctx, const cJSON *args);

#endif
