/* Cutting a text or markdown document into chunks for RAG (docs/rag.md):
 * contiguous byte ranges of the text, each about max_chars long, cut where
 * the text allows it best (a markdown heading always starts a chunk; then,
 * inside the window, a blank line, a line end, a sentence end, a space;
 * never inside a UTF-8 character of well-formed text), with overlap_chars
 * of the previous chunk repeated when a chunk had to be cut inside a
 * section. Markdown
 * headings (`# ...` to `###### ...`, outside ``` fences) are remembered: each
 * chunk knows the last heading above it.
 *
 * Pure: no state, no I/O; reentrant. */
#ifndef GW_CHUNKER_H
#define GW_CHUNKER_H

#include <stddef.h>

struct gw_chunk_opts {
    size_t max_chars;     /* a chunk's length at most (>= 16) */
    size_t overlap_chars; /* repeated from the previous chunk cut inside a section (< max/2) */
    int markdown;         /* recognise headings and code fences */
};

/* A chunk: text[off .. off+len), trimmed of surrounding white space and
 * never empty; the heading above it is text[head_off .. head_off+head_len)
 * (its words without the '#' marks; head_len 0: none). */
struct gw_chunk {
    size_t off, len;
    size_t head_off, head_len;
};

/* Cuts text[0..len) into chunks, in order, into *out (malloc'd, the caller
 * frees; NULL when there are none). Returns how many (0 for a text with no
 * non-blank character), or -1 when memory runs out or the options are out of
 * range (*out NULL). */
long gw_chunk_split(const char *text, size_t len, const struct gw_chunk_opts *o,
                    struct gw_chunk **out);

/* 1 when a file name says markdown (.md, .markdown, .mdx), else 0. */
int gw_chunk_is_markdown(const char *file_name);

#endif
