/* The current configuration as a refcounted snapshot. Requests acquire it
 * once at intake (inside a gw_snap read section, then a refcount) and keep it
 * to their end, so a reload never changes a request's config under it.
 * Also each HTTP thread's read-only database connection (gw_runtime_reader). */
#include "runtime.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "log.h"
#include "pipeline.h"
#include "snapshot.h"

struct gw_runtime_info gw_runtime;
static void drop_published(void *p);
static struct gw_snap cfg_snap = GW_SNAP_INITIALIZER(drop_published);

void gw_runtime_config_release(struct gw_cfg_ref *ref)
{
    if (ref && atomic_fetch_sub(&ref->refs, 1) == 1) {
        gw_pipeline_teardown(ref->stage_states);
        gw_config_free(ref->cfg);
        free(ref);
    }
}

static void drop_published(void *p)
{
    gw_runtime_config_release(p);
}

int gw_runtime_set_config(struct gw_config *cfg, char *err, size_t errlen)
{
    struct gw_cfg_ref *ref = malloc(sizeof *ref);
    if (!ref) {
        snprintf(err, errlen, "out of memory");
        gw_config_free(cfg);
        return -1;
    }
    ref->cfg = cfg;
    if (gw_pipeline_setup(cfg, &ref->stage_states, err, errlen) != 0) {
        gw_config_free(cfg);
        free(ref);
        return -1;
    }
    atomic_init(&ref->refs, 1); /* the snapshot's own reference */
    gw_snap_publish(&cfg_snap, ref);
    return 0;
}

struct gw_cfg_ref *gw_runtime_config_acquire(void)
{
    unsigned tok;
    struct gw_cfg_ref *ref = gw_snap_enter(&cfg_snap, &tok);
    atomic_fetch_add(&ref->refs, 1);
    gw_snap_exit(&cfg_snap, tok);
    return ref;
}

void gw_runtime_shutdown(void)
{
    gw_snap_clear(&cfg_snap);
}

/* ---- per-thread readers ------------------------------------------------- */

static pthread_key_t reader_key;
static pthread_once_t reader_once = PTHREAD_ONCE_INIT;

static void reader_close(void *db)
{
    sqlite3_close(db);
}

static void reader_make_key(void)
{
    pthread_key_create(&reader_key, reader_close);
}

sqlite3 *gw_runtime_reader(void)
{
    pthread_once(&reader_once, reader_make_key);
    sqlite3 *db = pthread_getspecific(reader_key);
    if (!db && gw_runtime.db_path[0]) {
        char err[512];
        db = gw_db_open(gw_runtime.db_path, GW_DB_READONLY, err, sizeof err);
        if (!db)
            gw_error("database reader: %s", err);
        else
            pthread_setspecific(reader_key, db);
    }
    return db;
}
