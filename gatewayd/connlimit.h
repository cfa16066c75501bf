/* Connections per client address, counted across all HTTP threads (MHD's
 * own per-IP limit counts per thread in a thread pool, so N threads would let
 * N times the limit through). */
#ifndef GW_CONNLIMIT_H
#define GW_CONNLIMIT_H

#include <sys/socket.h>

/* limit 0 = unlimited. */
void gw_connlimit_set(int limit);
/* At accept: counts the address; returns 0 if over the limit (not counted). */
int gw_connlimit_enter(const struct sockaddr *addr, socklen_t len, unsigned *slot);
/* At close, with the slot gw_connlimit_enter gave. */
void gw_connlimit_leave(unsigned slot);

#endif
