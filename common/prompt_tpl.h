/* Prompt template documents (docs/prompts.md): what `gwctl prompt create
 * --file F` sends, parsed from plain text, JSON or YAML into one canonical
 * JSON object, checked, and printed back as YAML (what `prompt show` prints
 * and `prompt diff` compares). The {{variable}} syntax itself is
 * template.h's.
 *
 * The canonical object, members in this order, each optional but "variables"
 * (always present) and one of "system" / "messages":
 *
 *   {"description": str, "model": str, "force_model": bool,
 *    "params": {name: JSON value}, "variables": [name, ...],
 *    "system": str, "messages": [{"role": str, "content": str}, ...]}
 *
 * "variables" is the declared list when the document has one (it must then
 * match the placeholders used exactly), else the placeholders in order of
 * first use. */
#ifndef GW_PROMPT_TPL_H
#define GW_PROMPT_TPL_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct gw_buf;

#define GW_PTPL_MAX_SOURCE    (256 * 1024) /* bytes of a source document */
#define GW_PTPL_MAX_VARIABLES 64
#define GW_PTPL_MAX_MESSAGES  256

enum gw_ptpl_format { GW_PTPL_TEXT, GW_PTPL_JSON, GW_PTPL_YAML };

/* "text", "json", "yaml" -> *out; 0, or -1 for another name. */
int gw_ptpl_format_parse(const char *name, enum gw_ptpl_format *out);
const char *gw_ptpl_format_name(enum gw_ptpl_format f);
/* By a file name's extension: .json JSON, .yaml/.yml YAML, else text. */
enum gw_ptpl_format gw_ptpl_format_for_file(const char *file_name);

/* Parses a source document (UTF-8, no NUL) into the canonical template
 * (gw_ptpl_check included). Plain text is the system prompt, trailing line
 * ends removed. Returns a cJSON object the caller deletes, or NULL with a
 * message in err ("line 3: ..." for YAML, the member's path for a check). */
cJSON *gw_ptpl_parse(const char *src, size_t len, enum gw_ptpl_format fmt, char *err,
                     size_t errlen);

/* Checks a template object and returns its canonical form (a new object the
 * caller deletes; tpl is not changed), or NULL with err naming the member:
 * unknown members, wrong types, a role other than system, developer, user or
 * assistant, a malformed placeholder, declared variables that differ from
 * those used, params that only the request may set (model, messages,
 * stream, stream_options, prompt, inputs). */
cJSON *gw_ptpl_check(const cJSON *tpl, char *err, size_t errlen);

/* Appends the canonical template as a YAML document that gw_ptpl_parse
 * reads back to the same template. Returns 0, or -1 when memory runs out. */
int gw_ptpl_yaml(const cJSON *tpl, struct gw_buf *out);

/* 1 if s[0..len) is valid UTF-8 with no NUL byte, else 0. */
int gw_ptpl_utf8_valid(const char *s, size_t len);

#endif
