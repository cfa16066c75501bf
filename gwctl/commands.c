/*
 * gwctl/commands.c — owns the command table: every gwctl command is described
 * here once (its words, operands and options with their types, one line of
 * help, the protocol cmd it sends and the view that prints its result). The
 * argument parser, usage errors, `help`, the shell's tab completion and its
 * history filter all read this table; nothing else lists commands.
 *
 * Adding a daemon command is one params array and one row in gwctl_commands
 * (and, if its result wants a table, a view in output.c).
 */
#include "commands.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define NELEM(a)  (sizeof(a) / sizeof((a)[0]))
#define PARAMS(a) .params = (a), .nparams = NELEM(a)

/* Largest integer a JSON number carries exactly (2^53 - 1). */
#define GWCTL_MAX_INT 9007199254740991LL

static gwctl_local_fn help_local;

/* ---- the table ----------------------------------------------------------- */

static const char *const budget_period_choices[] = {"daily", "weekly", "monthly", "none", NULL};

/* The operand naming an existing key, or team. */
#define KEY_OPERAND                                                                                \
    {                                                                                              \
        .metavar = "ID", .arg = "id", .type = GWCTL_T_STRING, .required = true,                    \
        .help = "key id (key_...) or key name", .complete = GWCTL_COMPLETE_KEY                     \
    }
#define TEAM_OPERAND                                                                               \
    {                                                                                              \
        .metavar = "NAME", .arg = "name", .type = GWCTL_T_STRING, .required = true,                \
        .help = "team name", .complete = GWCTL_COMPLETE_TEAM                                       \
    }

/* The limits and budget a key or team carries, on create and update alike. */
/* clang-format off */
#define LIMIT_PARAMS(scope)                                                                        \
    {.option = "rpm", .metavar = "N", .arg = "rpm", .type = GWCTL_T_INT,                           \
     .help = "limit: requests per minute" scope},                                                  \
    {.option = "tpm", .metavar = "N", .arg = "tpm", .type = GWCTL_T_INT,                           \
     .help = "limit: tokens per minute" scope},                                                    \
    {.option = "tpd", .metavar = "N", .arg = "tpd", .type = GWCTL_T_INT,                           \
     .help = "limit: tokens per day" scope},                                                       \
    {.option = "concurrent", .metavar = "N", .arg = "concurrent", .type = GWCTL_T_INT,             \
     .help = "limit: requests in flight at once" scope},                                           \
    {.option = "budget", .metavar = "USD", .arg = "budget_usd", .type = GWCTL_T_USD,               \
     .help = "spending budget in USD" scope},                                                      \
    {.option = "budget-period", .metavar = "daily|weekly|monthly|none", .arg = "budget_period",    \
     .type = GWCTL_T_CHOICE, .help = "when the budget resets" scope,                               \
     .choices = budget_period_choices, .complete = GWCTL_COMPLETE_CHOICES}
/* clang-format on */

static const char *const switch_choices[] = {"on", "off", "default", NULL};

/* A key's own switches for the PII, output guard, firewall and cache stages
 * (docs/gwctl.md); "default" follows the config again. The daemon checks the
 * entity names and the numbers. */
/* clang-format off */
#define KEY_SETTING_PARAMS                                                                         \
    {.option = "pii", .metavar = "on|off|default", .arg = "pii", .type = GWCTL_T_CHOICE,           \
     .help = "scrub personal data from this key's requests (default: as the config)",             \
     .choices = switch_choices, .complete = GWCTL_COMPLETE_CHOICES},                               \
    {.option = "pii-entities", .metavar = "email,phone,...|default", .arg = "pii_entities",        \
     .type = GWCTL_T_STRING,                                                                       \
     .help = "entities scrubbed for this key: email, phone, credit_card, ssn, iban, ip, secret, "  \
             "all"},                                                                               \
    {.option = "output-guard", .metavar = "on|off|default", .arg = "output_guard",                 \
     .type = GWCTL_T_CHOICE, .help = "check this key's answers against blocked phrases",          \
     .choices = switch_choices, .complete = GWCTL_COMPLETE_CHOICES},                               \
    {.option = "firewall", .metavar = "on|off|default", .arg = "firewall",                         \
     .type = GWCTL_T_CHOICE, .help = "run the semantic firewall on this key's prompts",           \
     .choices = switch_choices, .complete = GWCTL_COMPLETE_CHOICES},                               \
    {.option = "cache", .metavar = "on|off|default", .arg = "cache", .type = GWCTL_T_CHOICE,       \
     .help = "answer this key from the response cache",                                            \
     .choices = switch_choices, .complete = GWCTL_COMPLETE_CHOICES},                               \
    {.option = "cache-ttl", .metavar = "SECONDS|default", .arg = "cache_ttl",                      \
     .type = GWCTL_T_STRING, .help = "how long this key's cached answers stay valid"},             \
    {.option = "cache-threshold", .metavar = "0..1|default", .arg = "cache_threshold",             \
     .type = GWCTL_T_STRING, .help = "similarity a semantic cache hit needs for this key"}
/* clang-format on */

static const struct gwctl_param key_create_params[] = {
    {.option = "name",
     .metavar = "N",
     .arg = "name",
     .type = GWCTL_T_STRING,
     .required = true,
     .help = "name of the key (unique)"},
    {.option = "team",
     .metavar = "T",
     .arg = "team",
     .type = GWCTL_T_STRING,
     .help = "team the key belongs to (must exist)",
     .complete = GWCTL_COMPLETE_TEAM},
    LIMIT_PARAMS(""),
    {.option = "admin",
     .arg = "admin",
     .type = GWCTL_T_FLAG,
     .help = "the key may also call the gateway's admin HTTP endpoints"},
    {.option = "models",
     .metavar = "a,b,c",
     .arg = "models",
     .type = GWCTL_T_LIST,
     .help = "comma-separated models the key may use (default: all)"},
    {.option = "expires",
     .metavar = "WHEN",
     .arg = "expires_at",
     .type = GWCTL_T_UNTIL,
     .help = "the key stops working after 30d, 12h... from now, or a UTC date 2027-01-31"},
    KEY_SETTING_PARAMS,
};

static const struct gwctl_param key_rotate_params[] = {
    KEY_OPERAND,
    {.option = "grace",
     .metavar = "DURATION",
     .arg = "grace_s",
     .type = GWCTL_T_DURATION,
     .help = "how long the old secret keeps working, e.g. 24h (default: not at all)"},
};

static const struct gwctl_param key_id_params[] = {
    KEY_OPERAND,
};

static const struct gwctl_param team_create_params[] = {
    {.metavar = "NAME",
     .arg = "name",
     .type = GWCTL_T_STRING,
     .required = true,
     .help = "name of the team (unique)"},
    LIMIT_PARAMS(", for the whole team"),
    {.option = "models",
     .metavar = "a,b,c",
     .arg = "models",
     .type = GWCTL_T_LIST,
     .help = "comma-separated models the team's keys may use (default: all)"},
};

static const struct gwctl_param key_update_params[] = {
    KEY_OPERAND,
    LIMIT_PARAMS(""),
    KEY_SETTING_PARAMS,
};

static const struct gwctl_param team_update_params[] = {
    TEAM_OPERAND,
    LIMIT_PARAMS(", for the whole team"),
    {.option = "models",
     .metavar = "a,b,c|*",
     .arg = "models",
     .type = GWCTL_T_LIST,
     .help = "comma-separated models the team's keys may use; * for all"},
};

static const struct gwctl_param team_name_params[] = {
    TEAM_OPERAND,
};

static const char *const usage_by_choices[] = {"key", "team", "model", "day", "prompt", NULL};

static const struct gwctl_param usage_report_params[] = {
    {.option = "by",
     .metavar = "key|team|model|day|prompt",
     .arg = "by",
     .type = GWCTL_T_CHOICE,
     .help = "group rows by key (default), team, model, UTC day or prompt template version",
     .choices = usage_by_choices,
     .complete = GWCTL_COMPLETE_CHOICES},
    {.option = "since",
     .metavar = "DURATION",
     .arg = "since",
     .type = GWCTL_T_SINCE,
     .help = "only usage since 30m, 12h, 7d, 2w ago, or a UTC date 2026-11-01 "
             "(default: all time)"},
};

static const struct gwctl_param request_id_params[] = {
    {.metavar = "ID",
     .arg = "id",
     .type = GWCTL_T_STRING,
     .required = true,
     .help = "request id (req_..., the x-request-id of the response)"},
};

/* The prompt library (docs/prompts.md). */
static const char *const prompt_format_choices[] = {"text", "json", "yaml", NULL};

#define PROMPT_OPERAND(meta, what)                                                                 \
    {                                                                                              \
        .metavar = meta, .arg = "name", .type = GWCTL_T_STRING, .required = true, .help = what     \
    }

static const struct gwctl_param prompt_create_params[] = {
    PROMPT_OPERAND("NAME", "prompt name: letters, digits, _ - . (at most 64)"),
    {.option = "file",
     .metavar = "F",
     .arg = "source",
     .type = GWCTL_T_FILE,
     .required = true,
     .help = "the template: plain text (the system prompt), or .json / .yaml / .yml with "
             "system, messages, model, params, variables"},
    {.option = "format",
     .metavar = "text|json|yaml",
     .arg = "format",
     .type = GWCTL_T_CHOICE,
     .help = "how to read the file (default: by its extension; text otherwise)",
     .choices = prompt_format_choices,
     .complete = GWCTL_COMPLETE_CHOICES},
};

static const struct gwctl_param prompt_show_params[] = {
    PROMPT_OPERAND("NAME[@VERSION]", "prompt name; @VERSION for another than the active one"),
};

static const struct gwctl_param prompt_diff_params[] = {
    PROMPT_OPERAND("NAME", "prompt name"),
    {.metavar = "V1",
     .arg = "from",
     .type = GWCTL_T_INT,
     .required = true,
     .help = "the older version"},
    {.metavar = "V2",
     .arg = "to",
     .type = GWCTL_T_INT,
     .help = "the newer version (default: the active one)"},
};

static const struct gwctl_param prompt_rollback_params[] = {
    PROMPT_OPERAND("NAME", "prompt name"),
    {.metavar = "VERSION",
     .arg = "version",
     .type = GWCTL_T_INT,
     .required = true,
     .help = "the version to make active"},
};

static const struct gwctl_param prompt_delete_params[] = {
    PROMPT_OPERAND("NAME", "prompt name"),
    {.option = "force",
     .arg = "force",
     .type = GWCTL_T_FLAG,
     .help = "confirm: every version goes, and requests naming it get 404"},
};

/* RAG collections (docs/rag.md). */
#define RAG_COLLECTION(req)                                                                        \
    {                                                                                              \
        .option = "collection", .metavar = "C", .arg = "collection", .type = GWCTL_T_STRING,       \
        .required = req, .help = "collection name: letters, digits, _ - . (at most 64)"            \
    }

static const struct gwctl_param rag_add_params[] = {
    RAG_COLLECTION(true),
    {.metavar = "FILE",
     .arg = "files",
     .type = GWCTL_T_FILES,
     .required = true,
     .help = "text or markdown files (.md); a file added again replaces its chunks"},
};

static const struct gwctl_param rag_list_params[] = {
    RAG_COLLECTION(false),
};

static const struct gwctl_param rag_remove_params[] = {
    RAG_COLLECTION(true),
    {.option = "file",
     .metavar = "NAME",
     .arg = "file",
     .type = GWCTL_T_STRING,
     .help = "remove this file's chunks only (its base name, as rag list shows it)"},
};

static const struct gwctl_param rag_search_params[] = {
    RAG_COLLECTION(true),
    {.metavar = "QUERY",
     .arg = "query",
     .type = GWCTL_T_STRING,
     .required = true,
     .help = "the question, quoted"},
    {.option = "top-k",
     .metavar = "N",
     .arg = "top_k",
     .type = GWCTL_T_INT,
     .help = "chunks to show (default: rag.top_k)"},
};

/* The response cache (docs/caching.md). */
static const struct gwctl_param cache_list_params[] = {
    {.option = "model",
     .metavar = "M",
     .arg = "model",
     .type = GWCTL_T_STRING,
     .help = "entries of this model name (as clients ask for it)"},
    {.option = "key",
     .metavar = "KEY",
     .arg = "key",
     .type = GWCTL_T_STRING,
     .help = "entries made by this key (id or name)",
     .complete = GWCTL_COMPLETE_KEY},
    {.option = "limit",
     .metavar = "N",
     .arg = "limit",
     .type = GWCTL_T_INT,
     .help = "at most N entries, newest first (default 50)"},
};

static const struct gwctl_param cache_show_params[] = {
    {.metavar = "ID",
     .arg = "id",
     .type = GWCTL_T_INT,
     .required = true,
     .help = "entry id, as cache list shows it"},
};

static const struct gwctl_param cache_purge_params[] = {
    {.option = "model",
     .metavar = "M",
     .arg = "model",
     .type = GWCTL_T_STRING,
     .help = "entries of this model name"},
    {.option = "key",
     .metavar = "KEY",
     .arg = "key",
     .type = GWCTL_T_STRING,
     .help = "entries made by this key (id or name)",
     .complete = GWCTL_COMPLETE_KEY},
    {.option = "older-than",
     .metavar = "AGE",
     .arg = "older_than",
     .type = GWCTL_T_DURATION,
     .help = "entries created longer ago than AGE (90s, 30m, 12h, 7d, 2w)"},
    {.option = "all",
     .arg = "all",
     .type = GWCTL_T_FLAG,
     .help = "every entry (instead of the filters)"},
};

static const struct gwctl_param cache_search_params[] = {
    {.metavar = "TEXT",
     .arg = "text",
     .type = GWCTL_T_STRING,
     .required = true,
     .help = "a question, quoted"},
    {.option = "model",
     .metavar = "M",
     .arg = "model",
     .type = GWCTL_T_STRING,
     .help = "entries of this model name"},
    {.option = "key",
     .metavar = "KEY",
     .arg = "key",
     .type = GWCTL_T_STRING,
     .help = "entries made by this key (id or name)",
     .complete = GWCTL_COMPLETE_KEY},
    {.option = "limit",
     .metavar = "N",
     .arg = "limit",
     .type = GWCTL_T_INT,
     .help = "entries to show (default 10, at most 100)"},
};

static const struct gwctl_param help_params[] = {
    {.metavar = "COMMAND",
     .type = GWCTL_T_WORDS,
     .help = "a command or command group",
     .complete = GWCTL_COMPLETE_COMMAND},
};

const struct gwctl_cmd gwctl_commands[] = {
    {.words = {"key", "create"},
     .proto = "key.create",
     PARAMS(key_create_params),
     .help = "create a virtual API key; its secret is printed this once only",
     .view = gwctl_view_key_created,
     .flags = GWCTL_CMD_SECRET},
    {.words = {"key", "list"},
     .proto = "key.list",
     .help = "list all keys, oldest first",
     .view = gwctl_view_key_list},
    {.words = {"key", "show"},
     .proto = "key.show",
     PARAMS(key_id_params),
     .help = "show one key and its limits",
     .view = gwctl_view_key_show},
    {.words = {"key", "revoke"},
     .proto = "key.revoke",
     PARAMS(key_id_params),
     .help = "revoke a key; the next request made with it is refused",
     .view = gwctl_view_key_revoked},
    {.words = {"key", "rotate"},
     .proto = "key.rotate",
     PARAMS(key_rotate_params),
     .help = "issue a new secret for the same key id; the old one stops after --grace",
     .view = gwctl_view_key_created,
     .flags = GWCTL_CMD_SECRET},
    {.words = {"key", "update"},
     .proto = "key.update",
     PARAMS(key_update_params),
     .help = "change a key's limits, budget or stage switches; the next request uses them",
     .view = gwctl_view_key_show},
    {.words = {"team", "create"},
     .proto = "team.create",
     PARAMS(team_create_params),
     .help = "create a team, with optional team-wide limits and models",
     .view = gwctl_view_team_created},
    {.words = {"team", "update"},
     .proto = "team.update",
     PARAMS(team_update_params),
     .help = "change a team's limits, budget or models; the next request is admitted under them",
     .view = gwctl_view_team_created},
    {.words = {"team", "list"},
     .proto = "team.list",
     .help = "list all teams",
     .view = gwctl_view_team_list},
    {.words = {"team", "show"},
     .proto = "team.show",
     PARAMS(team_name_params),
     .help = "show a team and its keys",
     .view = gwctl_view_team_show},
    {.words = {"usage", "report"},
     .proto = "usage.report",
     PARAMS(usage_report_params),
     .help = "requests, tokens and cost, grouped, with a total",
     .view = gwctl_view_usage_report},
    {.words = {"request", "show"},
     .proto = "request.show",
     PARAMS(request_id_params),
     .help = "show a request's stored answer (kept when its client left before the end)",
     .view = gwctl_view_request_show},
    {.words = {"prompt", "create"},
     .proto = "prompt.create",
     PARAMS(prompt_create_params),
     .help = "add the next version of a prompt template from a file and make it active",
     .view = gwctl_view_prompt_created,
     .flags = GWCTL_CMD_AUTHOR},
    {.words = {"prompt", "list"},
     .proto = "prompt.list",
     .help = "list prompt templates with their active version",
     .view = gwctl_view_prompt_list},
    {.words = {"prompt", "show"},
     .proto = "prompt.show",
     PARAMS(prompt_show_params),
     .help = "show a template version as YAML, its versions and history",
     .view = gwctl_view_prompt_show},
    {.words = {"prompt", "diff"},
     .proto = "prompt.diff",
     PARAMS(prompt_diff_params),
     .help = "unified diff of two versions of a template",
     .view = gwctl_view_prompt_diff},
    {.words = {"prompt", "rollback"},
     .proto = "prompt.rollback",
     PARAMS(prompt_rollback_params),
     .help = "make an earlier (or any) version the active one",
     .view = gwctl_view_prompt_rolled_back,
     .flags = GWCTL_CMD_AUTHOR},
    {.words = {"prompt", "delete"},
     .proto = "prompt.delete",
     PARAMS(prompt_delete_params),
     .help = "delete a prompt and all its versions (needs --force)",
     .view = gwctl_view_prompt_deleted,
     .flags = GWCTL_CMD_AUTHOR},
    {.words = {"rag", "add"},
     .proto = "rag.add",
     PARAMS(rag_add_params),
     .help = "cut files into chunks, embed them and store them in a RAG collection",
     .view = gwctl_view_rag_added},
    {.words = {"rag", "list"},
     .proto = "rag.list",
     PARAMS(rag_list_params),
     .help = "list RAG collections, or the files of one",
     .view = gwctl_view_rag_list},
    {.words = {"rag", "remove"},
     .proto = "rag.remove",
     PARAMS(rag_remove_params),
     .help = "remove a RAG collection, or one file of it",
     .view = gwctl_view_rag_removed},
    {.words = {"rag", "search"},
     .proto = "rag.search",
     PARAMS(rag_search_params),
     .help = "the chunks of a collection a question would get, with their scores",
     .view = gwctl_view_rag_search},
    {.words = {"cache", "stats"},
     .proto = "cache.stats",
     .help = "the response cache's counters: lookups, hits, stores, evictions, sizes",
     .view = gwctl_view_cache_stats},
    {.words = {"cache", "list"},
     .proto = "cache.list",
     PARAMS(cache_list_params),
     .help = "list cached answers, newest first",
     .view = gwctl_view_cache_list},
    {.words = {"cache", "show"},
     .proto = "cache.show",
     PARAMS(cache_show_params),
     .help = "show one cached answer: its request, response, hits, age and size",
     .view = gwctl_view_cache_show},
    {.words = {"cache", "purge"},
     .proto = "cache.purge",
     PARAMS(cache_purge_params),
     .help = "delete cached answers by model, key or age, or --all",
     .view = gwctl_view_cache_purged},
    {.words = {"cache", "search"},
     .proto = "cache.search",
     PARAMS(cache_search_params),
     .help = "the cached questions nearest a text: similarity and the verification's verdict",
     .view = gwctl_view_cache_search},
    {.words = {"status"},
     .proto = "status",
     .help = "daemon version, uptime, counters",
     .view = gwctl_view_status},
    {.words = {"reload"},
     .proto = "reload",
     .help = "reload the configuration (as SIGHUP does); refused if it is invalid",
     .view = gwctl_view_reloaded},
    {.words = {"help"},
     PARAMS(help_params),
     .local = help_local,
     .help = "list commands, or describe one: help key create"},
    {.words = {"quit"},
     .help = "leave the shell (also: exit, Ctrl-D)",
     .flags = GWCTL_CMD_SHELL_ONLY | GWCTL_CMD_QUIT},
    {.words = {"exit"}, .help = "leave the shell", .flags = GWCTL_CMD_SHELL_ONLY | GWCTL_CMD_QUIT},
};
const size_t gwctl_ncommands = NELEM(gwctl_commands);

const struct gwctl_param gwctl_common_params[] = {
    {.option = "json", .type = GWCTL_T_FLAG, .help = "print the daemon's JSON result, one line"},
    {.option = "help", .type = GWCTL_T_FLAG, .help = "describe this command"},
};
const size_t gwctl_ncommon_params = NELEM(gwctl_common_params);

/* ---- lookup -------------------------------------------------------------- */

static int nwords_of(const struct gwctl_cmd *cmd)
{
    int n = 0;
    while (n < GWCTL_MAX_WORDS && cmd->words[n])
        n++;
    return n;
}

const struct gwctl_cmd *gwctl_cmd_lookup(int argc, char *const *argv, int *nwords)
{
    const struct gwctl_cmd *best = NULL;
    int best_n = 0;
    for (size_t i = 0; i < gwctl_ncommands; i++) {
        int n = nwords_of(&gwctl_commands[i]);
        if (n > argc || n <= best_n)
            continue;
        int k = 0;
        while (k < n && strcmp(argv[k], gwctl_commands[i].words[k]) == 0)
            k++;
        if (k == n) {
            best = &gwctl_commands[i];
            best_n = n;
        }
    }
    if (nwords)
        *nwords = best_n;
    return best;
}

/* True if `word` is the first word of a multi-word command ("key"). */
static bool is_group(const char *word)
{
    for (size_t i = 0; i < gwctl_ncommands; i++)
        if (nwords_of(&gwctl_commands[i]) > 1 && strcmp(gwctl_commands[i].words[0], word) == 0)
            return true;
    return false;
}

const struct gwctl_param *gwctl_cmd_option(const struct gwctl_cmd *cmd, const char *name)
{
    for (size_t i = 0; i < cmd->nparams; i++)
        if (cmd->params[i].option && strcmp(cmd->params[i].option, name) == 0)
            return &cmd->params[i];
    for (size_t i = 0; i < gwctl_ncommon_params; i++)
        if (strcmp(gwctl_common_params[i].option, name) == 0)
            return &gwctl_common_params[i];
    return NULL;
}

bool gwctl_cmd_line_is_secret(int argc, char *const *argv)
{
    const struct gwctl_cmd *cmd = gwctl_cmd_lookup(argc, argv, NULL);
    if (cmd && (cmd->flags & GWCTL_CMD_SECRET))
        return true;
    /* A pasted gateway secret, wherever it appears. */
    for (int i = 0; i < argc; i++)
        if (strstr(argv[i], "sk-"))
            return true;
    return false;
}

/* ---- synopsis, usage, help ------------------------------------------------ */

struct sbuf {
    char *s;
    size_t len;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    char *piece = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&piece, fmt, ap);
    va_end(ap);
    char *grown = n < 0 ? NULL : realloc(b->s, b->len + (size_t)n + 1);
    if (!grown) {
        fputs("gwctl: out of memory\n", stderr);
        exit(GWCTL_EXIT_PROTOCOL);
    }
    memcpy(grown + b->len, piece, (size_t)n + 1);
    b->s = grown;
    b->len += (size_t)n;
    free(piece);
}

/* "--rpm N", "--admin", "ID", "COMMAND..." */
static void param_synopsis(struct sbuf *b, const struct gwctl_param *p)
{
    const char *more = p->type == GWCTL_T_WORDS || p->type == GWCTL_T_FILES ? "..." : "";
    bool brackets = !p->required;
    if (brackets)
        sb_add(b, "[");
    if (p->option)
        sb_add(b, p->metavar ? "--%s %s" : "--%s", p->option, p->metavar);
    else
        sb_add(b, "%s%s", p->metavar, more);
    if (brackets)
        sb_add(b, "]");
}

char *gwctl_cmd_synopsis(const struct gwctl_cmd *cmd)
{
    struct sbuf b = {0};
    sb_add(&b, "%s", cmd->words[0]);
    for (int w = 1; w < nwords_of(cmd); w++)
        sb_add(&b, " %s", cmd->words[w]);
    /* Operands first, then options, each in table order. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < cmd->nparams; i++)
            if ((cmd->params[i].option == NULL) == (pass == 0)) {
                sb_add(&b, " ");
                param_synopsis(&b, &cmd->params[i]);
            }
    return b.s;
}

static char *cmd_name(const struct gwctl_cmd *cmd)
{
    struct sbuf b = {0};
    sb_add(&b, "%s", cmd->words[0]);
    for (int w = 1; w < nwords_of(cmd); w++)
        sb_add(&b, " %s", cmd->words[w]);
    return b.s;
}

void gwctl_cmd_usage(FILE *f, const struct gwctl_cmd *cmd, bool in_shell)
{
    char *syn = gwctl_cmd_synopsis(cmd);
    fprintf(f, "usage: %s%s\n", in_shell ? "" : "gwctl ", syn);
    free(syn);
}

/* Usage lines of every command of a group ("key ..."). */
static void group_usage(FILE *f, const char *group, bool in_shell)
{
    const char *lead = "usage:";
    for (size_t i = 0; i < gwctl_ncommands; i++) {
        if (strcmp(gwctl_commands[i].words[0], group) != 0)
            continue;
        char *syn = gwctl_cmd_synopsis(&gwctl_commands[i]);
        fprintf(f, "%-6s %s%s\n", lead, in_shell ? "" : "gwctl ", syn);
        free(syn);
        lead = "";
    }
}

static void command_list(FILE *f, const char *group, bool in_shell)
{
    size_t width = 0;
    for (size_t i = 0; i < gwctl_ncommands; i++) {
        char *name = cmd_name(&gwctl_commands[i]);
        if (strlen(name) > width)
            width = strlen(name);
        free(name);
    }
    for (size_t i = 0; i < gwctl_ncommands; i++) {
        const struct gwctl_cmd *c = &gwctl_commands[i];
        if (group && strcmp(c->words[0], group) != 0)
            continue;
        if (!in_shell && (c->flags & GWCTL_CMD_SHELL_ONLY))
            continue;
        char *name = cmd_name(c);
        fprintf(f, "  %-*s  %s\n", (int)width, name, c->help);
        free(name);
    }
}

void gwctl_print_main_usage(FILE *f)
{
    fputs("gwctl " GW_VERSION " - the operator's console of gatewayd\n"
          "\n"
          "usage: gwctl [-s SOCKET] [-t SECONDS] [--json] COMMAND ...   run one command\n"
          "       gwctl [-s SOCKET] [-t SECONDS] [--json]               interactive shell\n"
          "\n"
          "options:\n"
          "  -s, --socket PATH     admin socket (default: $GWCTL_SOCKET, else " GWCTL_DEFAULT_SOCKET
          ")\n"
          "  -t, --timeout SECS    give up on a reply after SECS seconds (default 30)\n"
          "  -j, --json            print results as JSON, one object per line\n"
          "  -h, --help            this text\n"
          "  -V, --version         print the version\n"
          "\n"
          "commands:\n",
          f);
    command_list(f, NULL, false);
    fputs("\n"
          "'gwctl help COMMAND' describes a command and its options.\n"
          "exit codes: 0 ok, 1 the daemon answered with an error, 2 usage error,\n"
          "            3 cannot connect to the socket, 4 no valid reply\n",
          f);
}

static const char *type_hint(const struct gwctl_param *p)
{
    switch (p->type) {
    case GWCTL_T_INT:
        return " (integer)";
    case GWCTL_T_USD:
        return " (decimal)";
    default:
        return "";
    }
}

static void param_help(FILE *f, const struct gwctl_param *p)
{
    struct sbuf b = {0};
    if (p->option)
        sb_add(&b, p->metavar ? "--%s %s" : "--%s", p->option, p->metavar);
    else
        sb_add(&b, "%s", p->metavar);
    fprintf(f, "  %-24s %s%s%s\n", b.s, p->help, type_hint(p), p->required ? " [required]" : "");
    free(b.s);
}

static void command_help(FILE *f, const struct gwctl_cmd *cmd, bool in_shell)
{
    gwctl_cmd_usage(f, cmd, in_shell);
    fprintf(f, "\n%s\n", cmd->help);
    if (cmd->nparams)
        fputc('\n', f);
    for (size_t i = 0; i < cmd->nparams; i++)
        if (!cmd->params[i].option)
            param_help(f, &cmd->params[i]);
    for (size_t i = 0; i < cmd->nparams; i++)
        if (cmd->params[i].option)
            param_help(f, &cmd->params[i]);
    if (cmd->proto) {
        param_help(f, &gwctl_common_params[0]);
        fprintf(f, "\nsends: %s (see docs/admin-protocol.md)\n", cmd->proto);
    }
}

enum gwctl_exit gwctl_cmd_help(const struct gwctl_ctx *ctx, int argc, char **argv)
{
    FILE *f = ctx->out;
    if (argc == 0) {
        if (ctx->in_shell) {
            fputs("commands:\n", f);
            command_list(f, NULL, true);
            fputs("\n'help COMMAND' describes a command and its options; TAB completes.\n", f);
        } else {
            gwctl_print_main_usage(f);
        }
        return GWCTL_EXIT_OK;
    }
    int n = 0;
    const struct gwctl_cmd *cmd = gwctl_cmd_lookup(argc, argv, &n);
    if (cmd && n == argc) {
        command_help(f, cmd, ctx->in_shell);
        return GWCTL_EXIT_OK;
    }
    if (argc == 1 && is_group(argv[0])) {
        command_list(f, argv[0], ctx->in_shell);
        fputc('\n', f);
        group_usage(f, argv[0], ctx->in_shell);
        return GWCTL_EXIT_OK;
    }
    fprintf(ctx->err, "gwctl: help: no command '");
    for (int i = 0; i < argc; i++)
        fprintf(ctx->err, "%s%s", i ? " " : "", argv[i]);
    fprintf(ctx->err, "'; '%shelp' lists them\n", ctx->in_shell ? "" : "gwctl ");
    return GWCTL_EXIT_USAGE;
}

static enum gwctl_exit help_local(const struct gwctl_ctx *ctx, int argc, char **argv)
{
    return gwctl_cmd_help(ctx, argc, argv);
}

/* ---- argument values ------------------------------------------------------ */

/* Reads exactly n decimal digits at s. */
static bool digits_at(const char *s, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        *out = *out * 10 + (s[i] - '0');
    }
    return true;
}

int gwctl_parse_duration(const char *s, long long *out)
{
    size_t len = strlen(s);
    if (len == 0)
        return -1;
    int unit_char = isdigit((unsigned char)s[len - 1]) ? 's' : s[len - 1];
    size_t digits = isdigit((unsigned char)s[len - 1]) ? len : len - 1;
    if (digits == 0 || !strchr("smhdw", unit_char))
        return -1;
    long long n = 0;
    for (size_t i = 0; i < digits; i++) {
        if (!isdigit((unsigned char)s[i]) || n > 100000000000LL)
            return -1;
        n = n * 10 + (s[i] - '0');
    }
    static const long long unit[] = {['s' - 'a'] = 1,
                                     ['m' - 'a'] = 60,
                                     ['h' - 'a'] = 3600,
                                     ['d' - 'a'] = 86400,
                                     ['w' - 'a'] = 7 * 86400};
    *out = n * unit[unit_char - 'a'];
    return 0;
}

int gwctl_parse_since(const char *s, time_t now, long long *out)
{
    size_t len = strlen(s);
    long long secs;
    if (len >= 2 && strchr("smhdw", s[len - 1]) && gwctl_parse_duration(s, &secs) == 0) {
        *out = (long long)now - secs;
        if (*out < 0)
            *out = 0;
        return 0;
    }

    /* YYYY-MM-DD, optionally followed by [T ]HH:MM[:SS][Z], UTC. */
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (len < 10 || !digits_at(s, 4, &y) || s[4] != '-' || !digits_at(s + 5, 2, &mo) ||
        s[7] != '-' || !digits_at(s + 8, 2, &d))
        return -1;
    const char *rest = s + 10;
    if ((*rest == 'T' || *rest == ' ') && rest[1]) {
        if (!digits_at(rest + 1, 2, &h) || rest[3] != ':' || !digits_at(rest + 4, 2, &mi))
            return -1;
        rest += 6;
        if (*rest == ':') {
            if (!digits_at(rest + 1, 2, &sec))
                return -1;
            rest += 3;
        }
        if (*rest == 'Z')
            rest++;
    }
    if (*rest)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    struct tm back;
    if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_year != y - 1900 ||
        back.tm_mon != mo - 1 || back.tm_mday != d || back.tm_hour != h || back.tm_min != mi ||
        back.tm_sec != sec)
        return -1; /* 2026-02-30, 25:00 ... */
    *out = (long long)t;
    return 0;
}

static int parse_int(const char *s, long long *out)
{
    long long n = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        n = n * 10 + (*s - '0');
        if (n > GWCTL_MAX_INT)
            return -1;
    }
    *out = n;
    return 0;
}

/* A plain decimal: digits, optionally one '.' and digits. No sign, exponent,
 * hex, inf or nan. */
static int parse_usd(const char *s, double *out)
{
    size_t digits = 0, dots = 0;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits++;
        else if (*p == '.' && dots++ == 0)
            continue;
        else
            return -1;
    }
    if (digits == 0 || digits > 15)
        return -1;
    errno = 0;
    *out = strtod(s, NULL);
    return errno ? -1 : 0;
}

static cJSON *parse_list(const char *s)
{
    cJSON *arr = cJSON_CreateArray();
    const char *p = s;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && isspace((unsigned char)*p))
            p++, n--;
        while (n && isspace((unsigned char)p[n - 1]))
            n--;
        if (n == 0) {
            cJSON_Delete(arr);
            return NULL;
        }
        char *item = strndup(p, n);
        cJSON_AddItemToArray(arr, cJSON_CreateString(item));
        free(item);
        if (!end)
            break;
        p = end + 1;
    }
    return arr;
}

static void param_label(char *buf, size_t n, const struct gwctl_param *p)
{
    if (p->option)
        snprintf(buf, n, "--%s", p->option);
    else
        snprintf(buf, n, "%s", p->metavar);
}

/* GWCTL_T_FILE: the text of the file at path as a JSON string (its base
 * name added to args as "file_name"); NULL with err set. */
static cJSON *read_text_file(const char *label, const char *path, cJSON *args, char *err,
                             size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s %s: %s", label, path, strerror(errno));
        return NULL;
    }
    char *text = malloc(GWCTL_MAX_FILE + 1);
    size_t n = text ? fread(text, 1, GWCTL_MAX_FILE + 1, f) : 0;
    int bad = !text || ferror(f);
    fclose(f);
    cJSON *item = NULL;
    if (bad)
        snprintf(err, errlen, "%s %s: cannot read it", label, path);
    else if (n > GWCTL_MAX_FILE)
        snprintf(err, errlen, "%s %s: larger than %d KiB", label, path, GWCTL_MAX_FILE / 1024);
    else if (memchr(text, '\0', n))
        snprintf(err, errlen, "%s %s: not a text file (it holds NUL bytes)", label, path);
    else {
        text[n] = '\0';
        item = cJSON_CreateString(text);
        const char *base = strrchr(path, '/');
        cJSON_DeleteItemFromObjectCaseSensitive(args, "file_name");
        cJSON_AddStringToObject(args, "file_name", base ? base + 1 : path);
    }
    free(text);
    return item;
}

/* GWCTL_T_FILES: one more {"file_name", "text"} in the array args[p->arg]. */
static int add_file_item(cJSON *args, const struct gwctl_param *p, const char *label,
                         const char *path, char *err, size_t errlen)
{
    cJSON *tmp = cJSON_CreateObject();
    cJSON *text = read_text_file(label, path, tmp, err, errlen);
    if (!text) {
        cJSON_Delete(tmp);
        return -1;
    }
    cJSON_AddItemToObject(tmp, "text", text);
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(args, p->arg);
    if (!arr)
        arr = cJSON_AddArrayToObject(args, p->arg);
    size_t total = strlen(text->valuestring);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        total += strlen(cJSON_GetObjectItemCaseSensitive(it, "text")->valuestring);
    }
    if (total > GWCTL_MAX_FILES_TOTAL) {
        snprintf(err, errlen, "%s %s: the files pass %d KiB together; add them in several runs",
                 label, path, GWCTL_MAX_FILES_TOTAL / 1024);
        cJSON_Delete(tmp);
        return -1;
    }
    cJSON_AddItemToArray(arr, tmp);
    return 0;
}

/* Checks one value and adds it to args. Returns 0 or -1 with err set. */
static int add_value(cJSON *args, const struct gwctl_param *p, const char *v, time_t now, char *err,
                     size_t errlen)
{
    char label[64];
    param_label(label, sizeof label, p);
    cJSON *item = NULL;
    long long n;
    double d;

    switch (p->type) {
    case GWCTL_T_STRING:
        if (!*v) {
            snprintf(err, errlen, "%s must not be empty", label);
            return -1;
        }
        item = cJSON_CreateString(v);
        break;
    case GWCTL_T_INT:
        if (parse_int(v, &n) != 0) {
            snprintf(err, errlen, "%s wants a whole number >= 0, not '%s'", label, v);
            return -1;
        }
        item = cJSON_CreateNumber((double)n);
        break;
    case GWCTL_T_USD:
        if (parse_usd(v, &d) != 0) {
            snprintf(err, errlen, "%s wants a decimal amount such as 25 or 12.50, not '%s'", label,
                     v);
            return -1;
        }
        item = cJSON_CreateNumber(d);
        break;
    case GWCTL_T_LIST:
        item = parse_list(v);
        if (!item) {
            snprintf(err, errlen, "%s wants a comma-separated list without empty items, not '%s'",
                     label, v);
            return -1;
        }
        break;
    case GWCTL_T_CHOICE:
        for (const char *const *c = p->choices; *c; c++)
            if (strcmp(*c, v) == 0)
                item = cJSON_CreateString(v);
        if (!item) {
            snprintf(err, errlen, "%s wants one of %s, not '%s'", label, p->metavar, v);
            return -1;
        }
        break;
    case GWCTL_T_SINCE:
        if (gwctl_parse_since(v, now, &n) != 0) {
            snprintf(err, errlen,
                     "%s wants a duration (30m, 12h, 7d, 2w) or a UTC date (2026-11-01), "
                     "not '%s'",
                     label, v);
            return -1;
        }
        item = cJSON_CreateNumber((double)n);
        break;
    case GWCTL_T_UNTIL:
        if (strchr("smhdw", v[0] ? v[strlen(v) - 1] : 0) && gwctl_parse_duration(v, &n) == 0) {
            n += (long long)now;
        } else if (gwctl_parse_since(v, now, &n) != 0 || n <= (long long)now) {
            snprintf(err, errlen,
                     "%s wants a duration from now (12h, 30d) or a future UTC date "
                     "(2027-01-31), not '%s'",
                     label, v);
            return -1;
        }
        item = cJSON_CreateNumber((double)n);
        break;
    case GWCTL_T_DURATION:
        if (gwctl_parse_duration(v, &n) != 0) {
            snprintf(err, errlen, "%s wants a duration such as 90s, 30m, 24h or 7d, not '%s'",
                     label, v);
            return -1;
        }
        item = cJSON_CreateNumber((double)n);
        break;
    case GWCTL_T_FLAG:
        item = cJSON_CreateTrue();
        break;
    case GWCTL_T_WORDS:
        return 0;
    case GWCTL_T_FILE:
        item = read_text_file(label, v, args, err, errlen);
        if (!item)
            return -1;
        break;
    case GWCTL_T_FILES:
        return add_file_item(args, p, label, v, err, errlen);
    }
    if (!item)
        return -1;
    if (p->arg)
        cJSON_AddItemToObject(args, p->arg, item);
    else
        cJSON_Delete(item);
    return 0;
}

/* ---- parsing a command line ---------------------------------------------- */

enum gwctl_exit gwctl_cmd_parse(const struct gwctl_cmd *cmd, int argc, char **argv, time_t now,
                                cJSON **args_out, bool *json, bool *help, char *err, size_t errlen)
{
    cJSON *args = cJSON_CreateObject();
    bool seen[32] = {false};
    size_t next_operand = 0;
    bool options_done = false;
    char label[64];

    *json = *help = false;
    *args_out = NULL;
    err[0] = '\0';
    if (cmd->nparams > NELEM(seen)) {
        snprintf(err, errlen, "internal: command has too many parameters");
        goto usage;
    }

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "-h") == 0) {
                *help = true;
                continue;
            }
            if (a[1] != '-') {
                snprintf(err, errlen, "unknown option '%s'", a);
                goto usage;
            }
            const char *eq = strchr(a + 2, '=');
            size_t nlen = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(nlen < 63 ? nlen : 63), a + 2);
            const struct gwctl_param *p = gwctl_cmd_option(cmd, name);
            if (!p) {
                snprintf(err, errlen, "unknown option '--%s'", name);
                goto usage;
            }
            if (p == &gwctl_common_params[0] || p == &gwctl_common_params[1]) {
                if (eq) {
                    snprintf(err, errlen, "option --%s takes no value", name);
                    goto usage;
                }
                *(p == &gwctl_common_params[0] ? json : help) = true;
                continue;
            }
            size_t idx = (size_t)(p - cmd->params);
            if (seen[idx]) {
                snprintf(err, errlen, "option --%s given twice", name);
                goto usage;
            }
            seen[idx] = true;
            const char *value;
            if (p->type == GWCTL_T_FLAG) {
                if (eq) {
                    snprintf(err, errlen, "option --%s takes no value", name);
                    goto usage;
                }
                value = "";
            } else if (eq) {
                value = eq + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                snprintf(err, errlen, "option --%s needs a value (%s)", name, p->metavar);
                goto usage;
            }
            if (add_value(args, p, value, now, err, errlen) != 0)
                goto usage;
            continue;
        }

        /* An operand: the next operand param, in table order. */
        const struct gwctl_param *p = NULL;
        size_t k = 0;
        for (size_t j = 0; j < cmd->nparams; j++) {
            if (cmd->params[j].option)
                continue;
            if (k++ == next_operand || cmd->params[j].type == GWCTL_T_WORDS) {
                p = &cmd->params[j];
                seen[j] = true;
                break;
            }
        }
        if (!p) {
            snprintf(err, errlen, "unexpected argument '%s'", a);
            goto usage;
        }
        if (p->type != GWCTL_T_WORDS && p->type != GWCTL_T_FILES)
            next_operand++;
        if (add_value(args, p, a, now, err, errlen) != 0)
            goto usage;
    }

    if (*help) {
        *args_out = args;
        return GWCTL_EXIT_OK;
    }
    for (size_t j = 0; j < cmd->nparams; j++) {
        if (cmd->params[j].required && !seen[j]) {
            param_label(label, sizeof label, &cmd->params[j]);
            snprintf(err, errlen, cmd->params[j].option ? "missing option %s %s" : "missing %s%s",
                     label, cmd->params[j].option ? cmd->params[j].metavar : "");
            goto usage;
        }
    }
    *args_out = args;
    return GWCTL_EXIT_OK;

usage:
    cJSON_Delete(args);
    return GWCTL_EXIT_USAGE;
}

/* ---- running ------------------------------------------------------------- */

/* Reports a local failure: "gwctl: msg" on stderr, and in --json mode an
 * error object on stdout. */
static void report(const struct gwctl_ctx *ctx, bool json, const char *code, const char *msg)
{
    fprintf(ctx->err, "gwctl: %s\n", msg);
    if (json)
        gwctl_print_json_error(ctx->out, code, msg);
}

static enum gwctl_exit unknown_command(const struct gwctl_ctx *ctx, int argc, char **argv)
{
    char msg[300];
    if (is_group(argv[0])) {
        if (argc > 1)
            snprintf(msg, sizeof msg, "unknown %s command '%s'", argv[0], argv[1]);
        else
            snprintf(msg, sizeof msg, "'%s' needs a command", argv[0]);
        report(ctx, ctx->json, "usage_error", msg);
        group_usage(ctx->err, argv[0], ctx->in_shell);
    } else {
        snprintf(msg, sizeof msg, "unknown command '%s'", argv[0]);
        report(ctx, ctx->json, "usage_error", msg);
        fprintf(ctx->err, "'%shelp' lists the commands\n", ctx->in_shell ? "" : "gwctl ");
    }
    return GWCTL_EXIT_USAGE;
}

enum gwctl_exit gwctl_cmd_run(const struct gwctl_ctx *ctx, int argc, char **argv)
{
    enum gwctl_exit rc;
    cJSON *args = NULL, *reply = NULL;
    bool json = false, help = false;
    char err[400];
    int nw = 0;

    if (argc == 0)
        return GWCTL_EXIT_OK;
    const struct gwctl_cmd *cmd = gwctl_cmd_lookup(argc, argv, &nw);
    if (!cmd)
        return unknown_command(ctx, argc, argv);
    if ((cmd->flags & GWCTL_CMD_SHELL_ONLY) && !ctx->in_shell) {
        snprintf(err, sizeof err, "'%s' only works in the interactive shell", argv[0]);
        report(ctx, ctx->json, "usage_error", err);
        return GWCTL_EXIT_USAGE;
    }
    if (cmd->local)
        return cmd->local(ctx, argc - nw, argv + nw);
    if (!cmd->proto)
        return GWCTL_EXIT_OK; /* quit: the shell acts on it */

    rc = gwctl_cmd_parse(cmd, argc - nw, argv + nw, time(NULL), &args, &json, &help, err,
                         sizeof err);
    json = json || ctx->json;
    if (rc != GWCTL_EXIT_OK) {
        report(ctx, json, "usage_error", err);
        gwctl_cmd_usage(ctx->err, cmd, ctx->in_shell);
        goto out;
    }
    if (help) {
        command_help(ctx->out, cmd, ctx->in_shell);
        goto out;
    }

    if (cmd->flags & GWCTL_CMD_AUTHOR) {
        const struct passwd *pw = getpwuid(getuid());
        const char *who = pw && pw->pw_name ? pw->pw_name : getenv("USER");
        if (who && *who && strlen(who) <= 64)
            cJSON_AddStringToObject(args, "author", who);
    }

    struct gwctl_client_err cerr;
    rc = gwctl_client_call(ctx->socket_path, ctx->timeout_ms, ctx->cancel, cmd->proto,
                           cJSON_GetArraySize(args) ? args : NULL, &reply, &cerr);
    if (rc == GWCTL_EXIT_CONNECT) {
        report(ctx, json, "connect_failed", cerr.msg);
        fprintf(ctx->err, "gwctl: is gatewayd running? Start it, or name its socket with "
                          "-s PATH or GWCTL_SOCKET.\n");
        goto out;
    }
    if (rc != GWCTL_EXIT_OK) {
        report(ctx, json, "protocol_error", cerr.msg);
        goto out;
    }

    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
        cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
        char *c = gwctl_format(code, GWCTL_FMT_TEXT, NULL);
        char *m = gwctl_format(msg, GWCTL_FMT_TEXT, "(no message)");
        fprintf(ctx->err, "gwctl: %s: %s\n", c, m);
        free(c);
        free(m);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddBoolToObject(o, "ok", 0);
            cJSON_AddItemToObject(o, "error", cJSON_Duplicate(e, 1));
            gwctl_print_json(ctx->out, o);
            cJSON_Delete(o);
        }
        rc = GWCTL_EXIT_DAEMON;
        goto out;
    }

    const cJSON *result = cJSON_GetObjectItemCaseSensitive(reply, "result");
    if (json)
        gwctl_print_json(ctx->out, result);
    else if (cmd->view)
        cmd->view(ctx->out, result, args);
    else
        gwctl_print_flat(ctx->out, result);
    rc = GWCTL_EXIT_OK;

out:
    fflush(ctx->out);
    cJSON_Delete(args);
    cJSON_Delete(reply);
    return rc;
}
