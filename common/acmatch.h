/* Case-insensitive multi-pattern matching in linear time (Aho-Corasick
 * compiled to a full DFA): built once from a list of phrases, then scanned
 * over any amount of text with one table lookup per byte. ASCII letters
 * match either case; other bytes (UTF-8) match exactly. */
#ifndef GW_ACMATCH_H
#define GW_ACMATCH_H

#include <stddef.h>

struct gw_ac;

/* Builds a matcher for n patterns (each non-empty). NULL when out of memory. */
struct gw_ac *gw_ac_build(const char *const *patterns, size_t n);
void gw_ac_free(struct gw_ac *ac);

/* A scan that may be fed in pieces: state 0 is the start. */
struct gw_ac_scan {
    int state;
};

/* Feeds text; returns the index of the first pattern found (a match may span
 * earlier feeds of the same scan), or -1. */
int gw_ac_feed(const struct gw_ac *ac, struct gw_ac_scan *scan, const char *text, size_t len);

#endif
