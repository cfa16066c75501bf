/* Personal data in text: detectors for e-mail addresses, phone numbers,
 * credit-card numbers (Luhn-checked), US social security numbers, IBANs
 * (mod-97 checked), IPv4/IPv6 addresses and common secret formats (API
 * keys, bearer tokens, JWTs), found in one linear pass with hand-written
 * scanners (no regular expressions, so no backtracking); the replacement of
 * what they find by placeholders `<<PII_<TYPE>_<8 hex>>>`, with a map from
 * each placeholder back to its value; and a streaming restorer that puts the
 * values back into text arriving in pieces, a placeholder split across
 * pieces included (docs/safety.md).
 *
 * The 8 hex digits are a keyed hash (BLAKE2b, libsodium's generichash) of
 * the type and the value under a random key made once per process: the same
 * value gets the same placeholder in every request this process serves
 * (which keeps cache keys stable), a different process gives a different
 * one, and nobody without the key can test a guess against a placeholder.
 * Two values of a request whose hashes collide get different placeholders.
 *
 * Threads: a map and a restorer belong to one request, used by one thread
 * at a time; the process key is made once, under pthread_once. */
#ifndef GW_PII_H
#define GW_PII_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum gw_pii_type {
    GW_PII_EMAIL,
    GW_PII_PHONE,
    GW_PII_CREDIT_CARD,
    GW_PII_SSN,
    GW_PII_IBAN,
    GW_PII_IP,     /* IPv4 and IPv6 */
    GW_PII_SECRET, /* API keys, bearer tokens, JWTs */
    GW_PII_N_TYPES
};

#define GW_PII_ALL ((1u << GW_PII_N_TYPES) - 1)
/* What `pii.entities` means when the config does not say. */
#define GW_PII_DEFAULT_ENTITIES                                                                    \
    ((1u << GW_PII_EMAIL) | (1u << GW_PII_PHONE) | (1u << GW_PII_CREDIT_CARD))

/* The longest placeholder: "<<PII_CREDIT_CARD_0123abcd>>". */
#define GW_PII_PLACEHOLDER_MAX 28

/* The config name of a type ("email", "credit_card"...), and its tag in
 * placeholders ("EMAIL", "CREDIT_CARD"...). */
const char *gw_pii_type_name(enum gw_pii_type t);
const char *gw_pii_type_tag(enum gw_pii_type t);
/* The type named name, or -1. */
int gw_pii_type_from_name(const char *name);

/* A value found in text: bytes [start, start + len) are of type. */
struct gw_pii_span {
    size_t start, len;
    enum gw_pii_type type;
};

/* Called for each value found, in order; non-zero stops the scan. */
typedef int (*gw_pii_found_fn)(void *arg, const struct gw_pii_span *span);

/* Finds the values of the types in mask (a bit set of 1u << type) in
 * s[0..n), left to right, without overlaps, in time linear in n. Returns how
 * many were reported. */
size_t gw_pii_scan(const char *s, size_t n, unsigned mask, gw_pii_found_fn fn, void *arg);

/* The checks the detectors use, exposed for the tests: a Luhn-valid digit
 * string; an IBAN in its compact form (no spaces) whose mod-97 is 1. */
int gw_pii_luhn_ok(const char *digits, size_t n);
int gw_pii_iban_ok(const char *s, size_t n);

/* ---- placeholders --------------------------------------------------------- */

/* A request's placeholders and the values they stand for. */
struct gw_pii_map;

/* NULL when out of memory; freed with gw_pii_map_free. */
struct gw_pii_map *gw_pii_map_new(void);
void gw_pii_map_free(struct gw_pii_map *m);
/* Distinct values in the map; replacements made of type t (a value seen
 * twice counts twice). */
size_t gw_pii_map_size(const struct gw_pii_map *m);
long gw_pii_map_replaced(const struct gw_pii_map *m, enum gw_pii_type t);
/* The value placeholder p[0..n) stands for (its length in *len), or NULL
 * when the map has none: the map keeps the pointer. */
const char *gw_pii_map_lookup(const struct gw_pii_map *m, const char *p, size_t n, size_t *len);

/* Appends s[0..n) to out with every value of the types in mask replaced by
 * its placeholder, recorded in m. Returns the number of replacements, or -1
 * when out of memory (out then holds part of the text). */
long gw_pii_scrub(struct gw_pii_map *m, unsigned mask, const char *s, size_t n, struct gw_buf *out);

/* The inverse of restoring, for what is stored from an answer (a cache
 * entry): appends s[0..n) to out with each value the detectors find that m
 * holds replaced by its placeholder; values m does not hold stay. Returns
 * the number replaced, or -1 when out of memory. */
long gw_pii_rescrub(const struct gw_pii_map *m, const char *s, size_t n, struct gw_buf *out);

/* ---- streaming restore ---------------------------------------------------- */

/* Puts values back in text that arrives in pieces: what could still become
 * a placeholder ("<", "<<PII_EM"...) is held back until the next piece
 * says, so a placeholder split anywhere is restored whole. A placeholder
 * the map does not know is left as it is. */
struct gw_pii_restorer {
    const struct gw_pii_map *map;
    int json;                          /* the text is JSON: values are escaped */
    char hold[GW_PII_PLACEHOLDER_MAX]; /* the undecided tail */
    size_t n_hold;
};

/* json: the pieces are JSON text (tool-call arguments), so each value is
 * written with JSON string escaping. */
void gw_pii_restore_init(struct gw_pii_restorer *rs, const struct gw_pii_map *m, int json);
/* Appends to out the restored text that is decided. 0, or -1 out of memory. */
int gw_pii_restore_feed(struct gw_pii_restorer *rs, const char *s, size_t n, struct gw_buf *out);
/* The end of the text: appends what was held back. */
int gw_pii_restore_flush(struct gw_pii_restorer *rs, struct gw_buf *out);

#endif
