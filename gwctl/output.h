/* Human and JSON printing for gwctl: value formats, column tables, "key: value"
 * blocks, and the per-command views of a daemon result. */
#ifndef GWCTL_OUTPUT_H
#define GWCTL_OUTPUT_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "gwctl.h"

/* How one JSON value is shown to a human. A missing or null value is "-"
 * unless the column names other text for it. */
enum gwctl_fmt {
    GWCTL_FMT_TEXT, /* strings as they are (control characters become '?') */
    GWCTL_FMT_INT,  /* integer, right-aligned in tables */
    GWCTL_FMT_TIME, /* unix seconds as UTC "YYYY-MM-DD HH:MM:SS" */
    GWCTL_FMT_USD,  /* money: 2 to 6 decimals, "12.50", "0.000123" */
    GWCTL_FMT_COST, /* money in a column: always 6 decimals, right-aligned */
    GWCTL_FMT_BOOL, /* "yes" / "no" */
    GWCTL_FMT_LIST, /* array of strings joined with ", " */
};

/* One column of a table, or one line of a "key: value" block. */
struct gwctl_col {
    const char *title; /* table header, or the label of a field line */
    const char *key;   /* member of the JSON object */
    enum gwctl_fmt fmt;
    const char *null_text; /* shown for null/missing; NULL means "-" */
};

/* Formats `v` (may be NULL) for a human. Returns a malloc'd string the caller
 * frees; never NULL (exits on out of memory). */
char *gwctl_format(const cJSON *v, enum gwctl_fmt fmt, const char *null_text);

/*
 * Prints an array of objects as aligned columns under a header. When `rows`
 * is empty prints `empty` instead (if not NULL). When `totals` is given, adds
 * a last line starting with `total_label` and the totals' members under the
 * columns of the same key.
 */
void gwctl_print_table(FILE *out, const struct gwctl_col *cols, size_t ncols, const cJSON *rows,
                       const char *empty, const cJSON *totals, const char *total_label);

/* Prints "title: value" lines, values aligned, for the given fields of obj. */
void gwctl_print_fields(FILE *out, const struct gwctl_col *fields, size_t nfields,
                        const cJSON *obj);

/* Prints every member of obj as "key: value", nested objects as "a.b: v". */
void gwctl_print_flat(FILE *out, const cJSON *obj);

/* Prints a JSON value on one line (what scripts read in --json mode). */
void gwctl_print_json(FILE *out, const cJSON *v);

/* Prints {"ok":false,"error":{"code":code,"message":message}} on one line. */
void gwctl_print_json_error(FILE *out, const char *code, const char *message);

/* The views: how each command's result looks to a human. `args` is the
 * request's arguments (may be NULL). */
typedef void gwctl_view_fn(FILE *out, const cJSON *result, const cJSON *args);

gwctl_view_fn gwctl_view_key_created;
gwctl_view_fn gwctl_view_key_list;
gwctl_view_fn gwctl_view_key_show;
gwctl_view_fn gwctl_view_key_revoked;
gwctl_view_fn gwctl_view_team_created;
gwctl_view_fn gwctl_view_team_list;
gwctl_view_fn gwctl_view_team_show;
gwctl_view_fn gwctl_view_usage_report;
gwctl_view_fn gwctl_view_request_show;
gwctl_view_fn gwctl_view_status;
gwctl_view_fn gwctl_view_reloaded;
/* prompt_output.c: the prompt library's views */
gwctl_view_fn gwctl_view_prompt_created;
gwctl_view_fn gwctl_view_prompt_list;
gwctl_view_fn gwctl_view_prompt_show;
gwctl_view_fn gwctl_view_prompt_diff;
gwctl_view_fn gwctl_view_prompt_rolled_back;
gwctl_view_fn gwctl_view_prompt_deleted;
/* rag_output.c: RAG collections' views */
gwctl_view_fn gwctl_view_rag_added;
gwctl_view_fn gwctl_view_rag_list;
gwctl_view_fn gwctl_view_rag_removed;
gwctl_view_fn gwctl_view_rag_search;
/* cache_output.c: the response cache's views */
gwctl_view_fn gwctl_view_cache_stats;
gwctl_view_fn gwctl_view_cache_list;
gwctl_view_fn gwctl_view_cache_show;
gwctl_view_fn gwctl_view_cache_purged;
/* cache_search_output.c: cache search */
gwctl_view_fn gwctl_view_cache_search;

#endif
