/* Process-wide runtime state that is not per request: the current config
 * (published as a refcounted snapshot, swapped by reload), the database path
 * and the start time. */
#ifndef GW_RUNTIME_H
#define GW_RUNTIME_H

#include <stdatomic.h>

#include "config.h"

struct gw_cfg_ref {
    struct gw_config *cfg;
    void **stage_states; /* what each pipeline stage built from cfg */
    atomic_int refs;
};

/* Installs cfg as the current config (takes ownership, also on failure);
 * the previous one is freed when the last request holding it finishes.
 * Returns -1 with err filled if a stage refuses the config (nothing changes). */
int gw_runtime_set_config(struct gw_config *cfg, char *err, size_t errlen);
/* Returns the current config with a reference held; release it when done. */
struct gw_cfg_ref *gw_runtime_config_acquire(void);
void gw_runtime_config_release(struct gw_cfg_ref *ref);
void gw_runtime_shutdown(void);

struct gw_runtime_info {
    const char *config_path; /* -c FILE or NULL for the embedded default */
    char db_path[4096];
    long long started_ms;
};
extern struct gw_runtime_info gw_runtime;

/* This thread's read-only connection to gw_runtime.db_path, opened on first
 * use and closed when the thread ends (for the stages that read stored
 * answers and cache entries on the HTTP threads); NULL if it cannot be
 * opened (logged). */
struct sqlite3;
struct sqlite3 *gw_runtime_reader(void);

#endif
