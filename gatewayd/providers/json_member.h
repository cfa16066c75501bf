/* Where a top-level member of a JSON object lies in its text, so a relay
 * can change one member of the caller's body and copy every other byte as
 * the caller wrote it (no re-serialisation). Used by the same-format relays
 * (openai.c, anthropic_relay.c). */
#ifndef GW_JSON_MEMBER_H
#define GW_JSON_MEMBER_H

#include <stddef.h>

/* Offsets into the text: key_start is the key's opening quote; the value is
 * [val_start, val_end); prev_sep / next_sep are the commas around the member
 * (-1: none); open is the object's opening brace. */
struct gw_json_member {
    long key_start, val_start, val_end, prev_sep, next_sep, open;
};

/* Scans the top level of the object in p[0..n) (nested values skipped by
 * bracket counting, strings by their escapes) for key. Returns 0 when it
 * occurs exactly once (m filled), 1 when it does not occur (m->open set),
 * -1 when the answer cannot be trusted: the text is not an object, a key is
 * written with escapes (it might spell key), or key occurs twice. The text
 * is expected to have passed a JSON parser already. */
int gw_json_member(const char *p, size_t n, const char *key, struct gw_json_member *m);

#endif
