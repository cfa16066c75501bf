/*
 * gwctl/prompt_output.c — the human views of the prompt library's commands
 * (prompt create, list, show, diff, rollback, delete; docs/prompts.md):
 * fields and tables through output.c's printers, and the template's YAML or
 * a diff printed as text, control characters other than newline and tab
 * neutralised. `--json` output is the daemon's result and does not pass
 * here.
 */
#include <stdlib.h>
#include <string.h>

#include "output.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const cJSON *member(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

/* A multi-line text as it is, safe for a terminal, ending with a newline. */
static void print_text(FILE *out, const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++, n++) {
        unsigned char c = (unsigned char)*p;
        fputc((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : c, out);
    }
    if (n && s[n - 1] != '\n')
        fputc('\n', out);
}

static const struct gwctl_col version_fields[] = {
    {"name", "name", GWCTL_FMT_TEXT, NULL},
    {"version", "version", GWCTL_FMT_INT, NULL},
    {"active", "active", GWCTL_FMT_BOOL, NULL},
    {"active_version", "active_version", GWCTL_FMT_INT, NULL},
    {"latest_version", "latest_version", GWCTL_FMT_INT, NULL},
    {"format", "format", GWCTL_FMT_TEXT, NULL},
    {"created_at", "created_at", GWCTL_FMT_TIME, NULL},
    {"created_by", "created_by", GWCTL_FMT_TEXT, NULL},
};

/* prompt show: the version's fields, its template as YAML, then every
 * version and the history of what was made active. */
void gwctl_view_prompt_show(FILE *out, const cJSON *result, const cJSON *args)
{
    static const struct gwctl_col version_columns[] = {
        {"VERSION", "version", GWCTL_FMT_INT, NULL},
        {"ACTIVE", "active", GWCTL_FMT_BOOL, NULL},
        {"CREATED", "created_at", GWCTL_FMT_TIME, NULL},
        {"BY", "created_by", GWCTL_FMT_TEXT, NULL},
    };
    static const struct gwctl_col event_columns[] = {
        {"AT", "at", GWCTL_FMT_TIME, NULL},          {"ACTION", "action", GWCTL_FMT_TEXT, NULL},
        {"VERSION", "version", GWCTL_FMT_INT, NULL}, {"FROM", "from_version", GWCTL_FMT_INT, NULL},
        {"BY", "by", GWCTL_FMT_TEXT, NULL},
    };
    const cJSON *p = member(result, "prompt");
    gwctl_print_fields(out, version_fields, NELEM(version_fields), p);
    const cJSON *yaml = member(p, "yaml");
    if (cJSON_IsString(yaml)) {
        fputs("\n", out);
        print_text(out, yaml->valuestring);
    }
    if (cJSON_IsArray(member(result, "versions"))) {
        fputs("\n", out);
        gwctl_print_table(out, version_columns, NELEM(version_columns), member(result, "versions"),
                          "(no versions)", NULL, NULL);
    }
    if (cJSON_IsArray(member(result, "events"))) {
        fputs("\n", out);
        gwctl_print_table(out, event_columns, NELEM(event_columns), member(result, "events"),
                          "(no history)", NULL, NULL);
    }
}

/* prompt create: one line saying what became active, then the version. */
void gwctl_view_prompt_created(FILE *out, const cJSON *result, const cJSON *args)
{
    const cJSON *p = member(result, "prompt");
    char *name = gwctl_format(member(p, "name"), GWCTL_FMT_TEXT, NULL);
    char *v = gwctl_format(member(p, "version"), GWCTL_FMT_INT, NULL);
    const cJSON *prev = member(result, "previous_version");
    fprintf(out, "created %s@%s (now active", name, v);
    if (cJSON_IsNumber(prev) && prev->valuedouble > 0)
        fprintf(out, "; was %s@%.0f", name, prev->valuedouble);
    fputs(")\n\n", out);
    free(name);
    free(v);
    gwctl_print_fields(out, version_fields, NELEM(version_fields), p);
    const cJSON *yaml = member(p, "yaml");
    if (cJSON_IsString(yaml)) {
        fputs("\n", out);
        print_text(out, yaml->valuestring);
    }
}

/* prompt rollback: which version is active now, and which was. */
void gwctl_view_prompt_rolled_back(FILE *out, const cJSON *result, const cJSON *args)
{
    const cJSON *p = member(result, "prompt");
    char *name = gwctl_format(member(p, "name"), GWCTL_FMT_TEXT, NULL);
    char *v = gwctl_format(member(p, "version"), GWCTL_FMT_INT, NULL);
    char *prev = gwctl_format(member(result, "previous_version"), GWCTL_FMT_INT, NULL);
    if (cJSON_IsFalse(member(result, "changed")))
        fprintf(out, "%s@%s is already the active version\n", name, v);
    else
        fprintf(out, "%s@%s is now active (was %s@%s)\n", name, v, name, prev);
    free(name);
    free(v);
    free(prev);
}

void gwctl_view_prompt_list(FILE *out, const cJSON *result, const cJSON *args)
{
    static const struct gwctl_col columns[] = {
        {"NAME", "name", GWCTL_FMT_TEXT, NULL},
        {"ACTIVE", "active_version", GWCTL_FMT_INT, NULL},
        {"LATEST", "latest_version", GWCTL_FMT_INT, NULL},
        {"VERSIONS", "versions", GWCTL_FMT_INT, NULL},
        {"MODEL", "model", GWCTL_FMT_TEXT, NULL},
        {"VARIABLES", "variables", GWCTL_FMT_LIST, "(none)"},
        {"UPDATED", "updated_at", GWCTL_FMT_TIME, NULL},
        {"DESCRIPTION", "description", GWCTL_FMT_TEXT, NULL},
    };
    gwctl_print_table(out, columns, NELEM(columns), member(result, "prompts"), "(no prompts)", NULL,
                      NULL);
}

/* prompt diff: the unified diff, or a line saying there is none. */
void gwctl_view_prompt_diff(FILE *out, const cJSON *result, const cJSON *args)
{
    const cJSON *d = member(result, "diff");
    if (cJSON_IsString(d) && *d->valuestring) {
        print_text(out, d->valuestring);
        return;
    }
    char *name = gwctl_format(member(result, "name"), GWCTL_FMT_TEXT, NULL);
    char *from = gwctl_format(member(result, "from"), GWCTL_FMT_INT, NULL);
    char *to = gwctl_format(member(result, "to"), GWCTL_FMT_INT, NULL);
    fprintf(out, "%s@%s and %s@%s are the same template\n", name, from, name, to);
    free(name);
    free(from);
    free(to);
}

void gwctl_view_prompt_deleted(FILE *out, const cJSON *result, const cJSON *args)
{
    char *name = gwctl_format(member(result, "name"), GWCTL_FMT_TEXT, NULL);
    char *n = gwctl_format(member(result, "deleted_versions"), GWCTL_FMT_INT, NULL);
    fprintf(out, "deleted prompt %s (%s version%s)\n", name, n, strcmp(n, "1") == 0 ? "" : "s");
    free(name);
    free(n);
}
