/* The virtual-key snapshot: every key, hashed, in an immutable open-addressing
 * table that the auth stage reads without a lock. Rebuilt from the database
 * and published whenever gwctl changes keys or teams. */
#ifndef GW_KEYS_H
#define GW_KEYS_H

#include <stddef.h>

struct gw_request;

enum gw_auth_result { GW_AUTH_OK, GW_AUTH_UNKNOWN, GW_AUTH_REVOKED, GW_AUTH_EXPIRED };

/* Reads keys and teams from the database at db_path and publishes them. */
int gw_keys_reload(const char *db_path, char *err, size_t errlen);
/* Looks the secret up; on GW_AUTH_OK fills r->who (copied into r's arena). */
enum gw_auth_result gw_keys_authenticate(struct gw_request *r, const char *secret, size_t len);
void gw_keys_counts(long *keys, long *teams);
void gw_keys_shutdown(void);

#endif
