/* The per-minute window (minute_window.h): sixty one-second slots, each one
 * 64-bit atomic holding the second it counts (high half) and its count (low
 * half, signed). Adding to a slot of an older second starts it afresh with
 * one compare-and-swap, so counting takes no lock; a reader sums the slots
 * whose second is less than a minute old. Seconds are kept modulo 2^32,
 * which only needs the ages to be compared, never the seconds themselves. */
#include "minute_window.h"

#include <stdint.h>

static unsigned long long second_of(long long now_us)
{
    return (unsigned long long)(now_us / 1000000) & 0xffffffffULL;
}

void gw_minute_window_add(struct gw_minute_window *w, long long n, long long now_us)
{
    unsigned long long sec = second_of(now_us);
    atomic_ullong *slot = &w->slot[sec % GW_MINUTE_WINDOW_S];
    unsigned long long old = atomic_load_explicit(slot, memory_order_relaxed), next;
    do {
        uint32_t count = (old >> 32) == sec ? (uint32_t)old : 0;
        count += (uint32_t)(int32_t)n; /* wraps as a signed 32-bit count */
        next = sec << 32 | count;
    } while (!atomic_compare_exchange_weak_explicit(slot, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

void gw_minute_window_fix(struct gw_minute_window *w, long long n, long long at_us)
{
    unsigned long long sec = second_of(at_us);
    atomic_ullong *slot = &w->slot[sec % GW_MINUTE_WINDOW_S];
    unsigned long long old = atomic_load_explicit(slot, memory_order_relaxed), next;
    do {
        if ((old >> 32) != sec)
            return;
        next = sec << 32 | (uint32_t)((uint32_t)old + (uint32_t)(int32_t)n);
    } while (!atomic_compare_exchange_weak_explicit(slot, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

long long gw_minute_window_sum(const struct gw_minute_window *w, long long now_us)
{
    unsigned long long sec = second_of(now_us);
    long long sum = 0;
    for (int i = 0; i < GW_MINUTE_WINDOW_S; i++) {
        unsigned long long v = atomic_load_explicit(&w->slot[i], memory_order_relaxed);
        unsigned long long age = (sec - (v >> 32)) & 0xffffffffULL;
        if (age < GW_MINUTE_WINDOW_S)
            sum += (int32_t)(uint32_t)v;
    }
    return sum > 0 ? sum : 0;
}

long long gw_minute_window_next_drop(const struct gw_minute_window *w, long long now_us)
{
    unsigned long long sec = second_of(now_us);
    long long oldest_age = -1;
    for (int i = 0; i < GW_MINUTE_WINDOW_S; i++) {
        unsigned long long v = atomic_load_explicit(&w->slot[i], memory_order_relaxed);
        unsigned long long age = (sec - (v >> 32)) & 0xffffffffULL;
        if (age < GW_MINUTE_WINDOW_S && (int32_t)(uint32_t)v > 0 && (long long)age > oldest_age)
            oldest_age = (long long)age;
    }
    if (oldest_age < 0)
        return 0;
    /* the slot counts while its age is below the window: it leaves at the
     * start of the second GW_MINUTE_WINDOW_S - age from now */
    return (now_us / 1000000 + GW_MINUTE_WINDOW_S - oldest_age) * 1000000;
}
