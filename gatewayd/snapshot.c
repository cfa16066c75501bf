/* Snapshot publication with an epoch pair (a minimal sleepable-RCU).
 *
 * DESIGN: a reader picks the current epoch's parity i, counts itself in
 * readers[i], then loads ptr. The publisher (serialised by publish_mu)
 * exchanges ptr, then twice flips the epoch and waits for the parity it just
 * left to drain. A reader that still holds the old pointer counted itself
 * before the exchange, in one of the two parities; a reader may have read the
 * epoch long before counting itself, which is why one flip is not enough
 * (as in userspace RCU's two-phase grace period). New readers always use the
 * parity not being waited for, so the wait cannot starve. All atomics are
 * sequentially consistent. */
#include "snapshot.h"

#include <sched.h>
#include <time.h>

void gw_snap_init(struct gw_snap *s, void *initial, void (*free_fn)(void *))
{
    atomic_init(&s->ptr, initial);
    atomic_init(&s->epoch, 0);
    atomic_init(&s->readers[0], 0);
    atomic_init(&s->readers[1], 0);
    pthread_mutex_init(&s->publish_mu, NULL);
    s->free_fn = free_fn;
}

void *gw_snap_enter(struct gw_snap *s, unsigned *token)
{
    unsigned i = atomic_load(&s->epoch) & 1;
    atomic_fetch_add(&s->readers[i], 1);
    *token = i;
    return atomic_load(&s->ptr);
}

void gw_snap_exit(struct gw_snap *s, unsigned token)
{
    atomic_fetch_sub(&s->readers[token], 1);
}

void gw_snap_publish(struct gw_snap *s, void *next)
{
    pthread_mutex_lock(&s->publish_mu);
    void *old = atomic_exchange(&s->ptr, next);
    struct timespec pause = {0, 50000};
    for (int phase = 0; phase < 2; phase++) {
        unsigned e = atomic_fetch_add(&s->epoch, 1);
        for (int spins = 0; atomic_load(&s->readers[e & 1]) != 0; spins++) {
            if (spins < 100)
                sched_yield();
            else
                nanosleep(&pause, NULL);
        }
    }
    pthread_mutex_unlock(&s->publish_mu);
    if (old && s->free_fn)
        s->free_fn(old);
}

void gw_snap_clear(struct gw_snap *s)
{
    void *p = atomic_exchange(&s->ptr, NULL);
    if (p && s->free_fn)
        s->free_fn(p);
}

void gw_snap_destroy(struct gw_snap *s)
{
    gw_snap_clear(s);
    pthread_mutex_destroy(&s->publish_mu);
}
