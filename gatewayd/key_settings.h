/* A key's own switches for the safety and cache stages (PII scrubbing and
 * its entities, the output guard, the firewall, the response cache with its
 * TTL and semantic threshold): stored with the key
 * (schema/011_key_settings.sql), set by `gwctl key create` / `key update`,
 * loaded into the key snapshot (keys.c) and copied into the request's
 * principal (request.h) by the auth stage. Every field has an "inherit"
 * value: the key then follows the configuration (docs/safety.md,
 * docs/gwctl.md).
 *
 * Precedence, in the stages: a request header (where the stage has one) >
 * the key > the model (cache) > the configuration. */
#ifndef GW_KEY_SETTINGS_H
#define GW_KEY_SETTINGS_H

#include <stddef.h>

struct cJSON;
struct sqlite3;
struct sqlite3_stmt;

struct gw_key_settings {
    int pii;                /* 1 on, 0 off; -1: pii.enabled */
    unsigned pii_entities;  /* bit set of 1u << enum gw_pii_type; 0: pii.entities */
    int output_guard;       /* 1 on, 0 off; -1: output_guard.enabled */
    int firewall;           /* 1 on, 0 off; -1: firewall.enabled (and exempt_keys) */
    int cache;              /* 1 on, 0 off; -1: the model's cache.enabled, then cache.enabled */
    int cache_ttl;          /* seconds; -1: the model's cache.ttl, then cache.ttl */
    double cache_threshold; /* semantic similarity (0..1]; < 0: cache.semantic.threshold */
};

/* Every field inheriting. */
#define GW_KEY_SETTINGS_INHERIT                                                                    \
    ((struct gw_key_settings){.pii = -1,                                                           \
                              .output_guard = -1,                                                  \
                              .firewall = -1,                                                      \
                              .cache = -1,                                                         \
                              .cache_ttl = -1,                                                     \
                              .cache_threshold = -1})

/* The columns of a SELECT over `keys k`, in the order gw_key_settings_read
 * expects them. */
#define GW_KEY_SETTINGS_COLS                                                                       \
    "k.pii, k.pii_entities, k.output_guard, k.firewall, k.cache, k.cache_ttl, k.cache_threshold"
#define GW_KEY_SETTINGS_NCOLS 7

/* Bounds of the values (the same as the config's). */
#define GW_KEY_CACHE_TTL_MAX (365 * 86400)

/* A change asked for by key.create or key.update: the fields whose bit is
 * set in `present` (1u << position in struct order) take the value in `to`
 * (its inherit value: back to the configuration). */
struct gw_key_settings_change {
    unsigned present;
    struct gw_key_settings to;
};

/* Reads the settings arguments of an admin request (docs/admin-protocol.md:
 * "pii", "pii_entities", "output_guard", "firewall", "cache", "cache_ttl",
 * "cache_threshold"; each a JSON value, null for inherit, or gwctl's text
 * form: "on" / "off" / "default", "email,phone", "3600", "0.9"). Returns 0,
 * or -1 with a message naming the argument and what it takes in err. */
int gw_key_settings_parse(const struct cJSON *args, struct gw_key_settings_change *out, char *err,
                          size_t errlen);

/* UPDATE keys SET <the present fields> WHERE id = key_id. Returns an SQLite
 * code (SQLITE_OK when nothing is present; SQLITE_NOTFOUND when no row). */
int gw_key_settings_store(struct sqlite3 *db, const char *key_id,
                          const struct gw_key_settings_change *c);

/* The settings from GW_KEY_SETTINGS_COLS starting at column col of the
 * current row. A value the daemon cannot read (edited by hand) inherits. */
void gw_key_settings_read(struct sqlite3_stmt *st, int col, struct gw_key_settings *out);

/* Adds the settings to o as members named like the arguments, each null
 * when it inherits; pii_entities as an array of entity names. */
void gw_key_settings_to_json(const struct gw_key_settings *s, struct cJSON *o);

#endif
