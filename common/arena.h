/* Per-request arenas: bump allocation from chained blocks, plus cleanup hooks
 * for resources that are not arena memory (cJSON trees, curl handles...).
 * Everything is released at once by gw_arena_destroy, hooks in reverse order. */
#ifndef GW_ARENA_H
#define GW_ARENA_H

#include <stddef.h>

struct gw_arena;

struct gw_arena *gw_arena_new(size_t first_block);
/* Memory is 16-byte aligned and lives until the arena is destroyed; NULL when
 * out of memory. */
void *gw_arena_alloc(struct gw_arena *a, size_t n);
void *gw_arena_calloc(struct gw_arena *a, size_t n);
char *gw_arena_strdup(struct gw_arena *a, const char *s);
char *gw_arena_strndup(struct gw_arena *a, const char *s, size_t n);
/* Registers fn(arg) to run when the arena is destroyed; -1 when out of memory
 * (fn is then called at once, so the resource is never leaked). */
int gw_arena_on_destroy(struct gw_arena *a, void (*fn)(void *), void *arg);
void gw_arena_destroy(struct gw_arena *a);

#endif
