/* A count over the last minute in one-second slots, lock-free: what the
 * provider key pools (keypool.h) and the per-deployment limits
 * (deployments.h) count requests and tokens with. */
#ifndef GW_MINUTE_WINDOW_H
#define GW_MINUTE_WINDOW_H

#include <stdatomic.h>

/* The window, in one-second slots. */
#define GW_MINUTE_WINDOW_S 60

/* Each slot: (second << 32) | count, the count a signed 32-bit value. All
 * zero is an empty window. */
struct gw_minute_window {
    atomic_ullong slot[GW_MINUTE_WINDOW_S];
};

/* Adds n (may be negative) to the slot of the second of now_us. */
void gw_minute_window_add(struct gw_minute_window *w, long long n, long long now_us);
/* Adds n to the slot of the second of at_us if that slot still counts that
 * second (a correction of what was added then; a slot reused since has
 * forgotten it, and nothing happens). */
void gw_minute_window_fix(struct gw_minute_window *w, long long n, long long at_us);
/* The sum of the last GW_MINUTE_WINDOW_S seconds at now_us (never below 0). */
long long gw_minute_window_sum(const struct gw_minute_window *w, long long now_us);
/* When the oldest second of the window that holds a positive count leaves
 * it (monotonic microseconds, after now_us); 0 when no second does. */
long long gw_minute_window_next_drop(const struct gw_minute_window *w, long long now_us);

#endif
