/* Immutable snapshots swapped atomically: the request path reads hot state
 * (keys, config) without a lock, and a writer publishes a new version that
 * replaces the old one once no reader can still see it.
 *
 * Readers bracket their use with gw_snap_enter/gw_snap_exit (a few atomic
 * increments, no lock). gw_snap_publish swaps the pointer, then waits for the
 * readers that might have loaded the old pointer to leave, then frees it. */
#ifndef GW_SNAPSHOT_H
#define GW_SNAPSHOT_H

#include <pthread.h>
#include <stdatomic.h>

struct gw_snap {
    _Atomic(void *) ptr;
    atomic_uint epoch;
    atomic_long readers[2];
    pthread_mutex_t publish_mu;
    void (*free_fn)(void *);
};

/* A snapshot in static storage, empty until its first gw_snap_publish
 * (gw_snap_enter returns NULL until then): no init call, no "ready" flag. */
#define GW_SNAP_INITIALIZER(fn)                                                                    \
    {                                                                                              \
        .ptr = NULL, .publish_mu = PTHREAD_MUTEX_INITIALIZER, .free_fn = (fn)                      \
    }

void gw_snap_init(struct gw_snap *s, void *initial, void (*free_fn)(void *));
/* Returns the current version; valid until the matching gw_snap_exit. */
void *gw_snap_enter(struct gw_snap *s, unsigned *token);
void gw_snap_exit(struct gw_snap *s, unsigned token);
/* Publishes next and frees the previous version (blocks for the grace period). */
void gw_snap_publish(struct gw_snap *s, void *next);
/* Frees the current version and leaves the snapshot empty, usable again;
 * no reader may be inside. */
void gw_snap_clear(struct gw_snap *s);
/* gw_snap_clear, and the snapshot's own resources (gw_snap_init's). */
void gw_snap_destroy(struct gw_snap *s);

#endif
