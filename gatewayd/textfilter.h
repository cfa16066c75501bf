/* The filters an answer's text goes through on its way from the provider's
 * codec to the caller's writer (answer.c): PII restoration (placeholders
 * back to the values they stand for, common/pii.h), then the output guard
 * (blocked phrases, outguard.h). Both work on text as it arrives, in
 * whatever pieces: a placeholder or a phrase split across pieces is seen
 * whole.
 *
 * DESIGN: one filter object per answer, in front of a sink (the writer).
 * Text and each tool call's argument JSON are separate channels; the
 * restorer's held-back tail (an unfinished placeholder) belongs to the
 * channel that is open, and is let out to it before another channel's
 * piece, so pieces reach the writer in the order they came (Anthropic's
 * blocks cannot interleave). Values restored into argument JSON are
 * escaped. The guard scans what the client would see (restored text and
 * arguments) a byte at a time, and holds back the text since its matcher
 * last stood at its start state (at most the longest phrase's length minus
 * one byte, never inside a UTF-8 character): text that may begin a blocked
 * phrase waits until the phrase fails or completes, so no byte of a
 * blocked phrase ever reaches the client. A match lets the text before the
 * phrase go, calls the sink's blocked() once, and from then on nothing more
 * passes. A phrase does not span two channels.
 *
 * Threads: an answer's filter is used by the thread feeding the answer. */
#ifndef GW_TEXTFILTER_H
#define GW_TEXTFILTER_H

#include <stddef.h>

#include "buf.h"

struct gw_pii_map;
struct gw_ac;

/* Where filtered pieces go (the writer's calls, see answer.h). */
struct gw_textfilter_sink {
    int (*text)(void *ctx, const char *s, size_t n, struct gw_buf *out);
    /* id and name only on the first piece of a key (n may be 0 then) */
    int (*tool)(void *ctx, int key, const char *id, const char *name, const char *args, size_t n,
                struct gw_buf *out);
    /* the guard matched blocked pattern number pattern: end the answer */
    void (*blocked)(void *ctx, int pattern, struct gw_buf *out);
};

struct gw_textfilter;

/* A filter restoring map's placeholders (map NULL: none) and guarding
 * against guard's patterns (NULL: none; guard_max: the longest pattern's
 * length), in front of sink. NULL when out of memory. */
struct gw_textfilter *gw_textfilter_new(const struct gw_pii_map *map, const struct gw_ac *guard,
                                        size_t guard_max, const struct gw_textfilter_sink *sink,
                                        void *ctx);
void gw_textfilter_free(struct gw_textfilter *f);

/* A piece of the answer's text. Returns 0, or -1 (out of memory, or the
 * sink's error). */
int gw_textfilter_text(struct gw_textfilter *f, const char *s, size_t n, struct gw_buf *out);
/* A piece of the tool call known as key (as gw_answer_tool). */
int gw_textfilter_tool(struct gw_textfilter *f, int key, const char *id, const char *name,
                       const char *args, size_t n, struct gw_buf *out);
/* Lets out what is held back: before a finish reason, the end, or an
 * error. */
int gw_textfilter_flush(struct gw_textfilter *f, struct gw_buf *out);
/* The guard has ended the answer. */
int gw_textfilter_blocked(const struct gw_textfilter *f);

#endif
