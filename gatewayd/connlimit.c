/* Per-address connection counting without a lock: addresses hash into 4,096
 * atomic counters. Two addresses sharing a counter share its limit, which
 * errs on the side of refusing; with a handful of clients on one box it does
 * not happen in practice. */
#include "connlimit.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SLOTS 4096

static atomic_int counts[SLOTS];
static atomic_int limit_;

void gw_connlimit_set(int limit)
{
    atomic_store(&limit_, limit);
}

static unsigned slot_of(const struct sockaddr *addr, socklen_t len)
{
    const unsigned char *p = NULL;
    size_t n = 0;
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        p = (const unsigned char *)&((const struct sockaddr_in *)addr)->sin_addr;
        n = 4;
    } else if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        p = (const unsigned char *)&((const struct sockaddr_in6 *)addr)->sin6_addr;
        n = 16;
    }
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h % SLOTS;
}

int gw_connlimit_enter(const struct sockaddr *addr, socklen_t len, unsigned *slot)
{
    *slot = slot_of(addr, len);
    int lim = atomic_load(&limit_);
    int now = atomic_fetch_add(&counts[*slot], 1) + 1;
    if (lim > 0 && now > lim) {
        atomic_fetch_sub(&counts[*slot], 1);
        return 0;
    }
    return 1;
}

void gw_connlimit_leave(unsigned slot)
{
    atomic_fetch_sub(&counts[slot % SLOTS], 1);
}
