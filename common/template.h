/* {{variable}} text templates: the placeholder scanner and the renderer the
 * prompt library uses (docs/prompts.md). Pure functions over bytes: no
 * allocation but the output buffer, no globals, no I/O.
 *
 * Syntax: `{{ name }}` is a placeholder (spaces or tabs allowed inside the
 * braces); a name is [A-Za-z_][A-Za-z0-9_.-]*, at most GW_TPL_MAX_NAME
 * bytes. `{{{{` is a literal `{{`. A `{` that is followed by a placeholder
 * is literal (`{{{x}}}` is `{`, x's value, `}`). Any other `{{` (no closing
 * `}}`, a bad name) is an error with its byte offset. Every other byte,
 * a lone `{` or `}` and `}}` included, is literal. */
#ifndef GW_TEMPLATE_H
#define GW_TEMPLATE_H

#include <stddef.h>

struct gw_buf;

#define GW_TPL_MAX_NAME 64

struct gw_tpl_error {
    size_t offset; /* byte offset of the bad "{{" in the text */
    char msg[160];
};

/* Called for every placeholder, in order; name is not NUL-terminated.
 * A non-zero return stops the scan and is returned by gw_tpl_scan. */
typedef int (*gw_tpl_var_fn)(const char *name, size_t len, void *arg);

/* Scans text for placeholders. Returns 0 when the text is well formed (fn,
 * if not NULL, was called for each placeholder), -1 with *err filled when it
 * is not, or fn's non-zero result. */
int gw_tpl_scan(const char *text, size_t len, gw_tpl_var_fn fn, void *arg,
                struct gw_tpl_error *err);

/* The value of a placeholder: *vlen set and a pointer to its bytes (not
 * necessarily NUL-terminated), or NULL when the name has no value. */
typedef const char *(*gw_tpl_lookup_fn)(const char *name, size_t len, size_t *vlen, void *arg);

/* Appends text to out with every placeholder replaced by lookup's value and
 * `{{{{` by `{{`. Returns 0; -1 with *err filled for malformed text or a name
 * lookup has no value for (err->msg names it); -2 when memory runs out. out
 * may hold a partial rendering after a failure. */
int gw_tpl_render(const char *text, size_t len, gw_tpl_lookup_fn lookup, void *arg,
                  struct gw_buf *out, struct gw_tpl_error *err);

/* 1 if s (len bytes) is a valid placeholder name, else 0. */
int gw_tpl_name_valid(const char *s, size_t len);

#endif
