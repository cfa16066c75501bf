/* The SQLite database: opening with the project's pragmas, and the schema
 * migrations (schema/NNN_*.sql, compiled in) tracked by PRAGMA user_version. */
#ifndef GW_DB_H
#define GW_DB_H

#include <sqlite3.h>
#include <stddef.h>

enum gw_db_mode { GW_DB_READWRITE, GW_DB_READONLY };

/* Opens path with WAL, synchronous=NORMAL, busy_timeout and foreign keys.
 * Returns NULL and fills err on failure. */
sqlite3 *gw_db_open(const char *path, enum gw_db_mode mode, char *err, size_t errlen);
/* Applies every migration newer than user_version, each in its own
 * transaction. Returns 0, or -1 with err filled. */
int gw_db_migrate(sqlite3 *db, char *err, size_t errlen);
/* Number of migrations compiled in (the schema version this build expects). */
int gw_db_schema_version(void);

#endif
