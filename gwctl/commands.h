/* The gwctl command table and what is generated from it: argument parsing
 * into protocol requests, usage errors, help text, and what tab completion
 * and the history filter need to know about each command. */
#ifndef GWCTL_COMMANDS_H
#define GWCTL_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "gwctl.h"
#include "output.h"

#define GWCTL_MAX_WORDS 2

/* The type of a parameter's value: how it is checked and sent. */
enum gwctl_type {
    GWCTL_T_STRING,   /* non-empty string */
    GWCTL_T_INT,      /* integer >= 0, sent as a JSON number */
    GWCTL_T_USD,      /* decimal number >= 0 ("12", "12.50"), sent as a JSON number */
    GWCTL_T_FLAG,     /* no value; sent as true */
    GWCTL_T_LIST,     /* "a,b,c", sent as a JSON array of strings */
    GWCTL_T_CHOICE,   /* one of `choices`, sent as a string */
    GWCTL_T_SINCE,    /* "30m", "12h", "7d", "2w" ago or a UTC date "2026-11-01",
                         sent as unix seconds */
    GWCTL_T_UNTIL,    /* "30d" from now or a UTC date, sent as unix seconds */
    GWCTL_T_DURATION, /* "90s", "30m", "24h", "7d", "2w" or plain seconds, sent as seconds */
    GWCTL_T_WORDS,    /* the rest of the line, not sent (local commands) */
    GWCTL_T_FILE,     /* a path gwctl reads (text, at most GWCTL_MAX_FILE bytes): the
                         text is sent under `arg`, the file's base name as "file_name" */
    GWCTL_T_FILES,    /* an operand that may repeat: each path read as GWCTL_T_FILE and sent
                         as {"file_name", "text"} in the array `arg` (at most
                         GWCTL_MAX_FILES_TOTAL bytes of text in all) */
};

/* Where tab completion finds candidates for a parameter's value. */
enum gwctl_complete {
    GWCTL_COMPLETE_NONE,
    GWCTL_COMPLETE_CHOICES, /* the param's `choices` */
    GWCTL_COMPLETE_KEY,     /* key names and ids, asked from the daemon */
    GWCTL_COMPLETE_TEAM,    /* team names, asked from the daemon */
    GWCTL_COMPLETE_COMMAND, /* gwctl command words */
};

/* One operand or option of a command. */
struct gwctl_param {
    const char *option;  /* "rpm" for --rpm; NULL for an operand */
    const char *metavar; /* "N", "ID"; NULL for a flag */
    const char *arg;     /* member of the request's "args"; NULL: not sent */
    enum gwctl_type type;
    bool required;
    const char *help;
    const char *const *choices; /* GWCTL_T_CHOICE: NULL-terminated */
    enum gwctl_complete complete;
};

/* A local command (runs in gwctl, sends nothing). Gets the words after the
 * command's name. */
typedef enum gwctl_exit gwctl_local_fn(const struct gwctl_ctx *ctx, int argc, char **argv);

#define GWCTL_CMD_SECRET     1u /* creates or carries a secret: kept out of history */
#define GWCTL_CMD_SHELL_ONLY 2u /* meaningful only in the shell */
#define GWCTL_CMD_QUIT       4u /* leaves the shell */
#define GWCTL_CMD_AUTHOR     8u /* args get "author": the user running gwctl (for history) */

#define GWCTL_MAX_FILE        (256 * 1024)
#define GWCTL_MAX_FILES_TOTAL (640 * 1024) /* GWCTL_T_FILES: one request stays under 1 MiB */

/* One command, described once. */
struct gwctl_cmd {
    const char *words[GWCTL_MAX_WORDS + 1]; /* {"key", "create", NULL} */
    const char *help;                       /* one line */
    const char *proto;                      /* protocol cmd, or NULL when local */
    const struct gwctl_param *params;
    size_t nparams;
    gwctl_view_fn *view;   /* human output of the result */
    gwctl_local_fn *local; /* handler of a local command */
    unsigned flags;
};

extern const struct gwctl_cmd gwctl_commands[];
extern const size_t gwctl_ncommands;

/* The options every command accepts besides its own. */
extern const struct gwctl_param gwctl_common_params[];
extern const size_t gwctl_ncommon_params;

/*
 * Finds the command named by the first words of argv. Returns it and sets
 * *nwords to the number of words its name took, or returns NULL.
 */
const struct gwctl_cmd *gwctl_cmd_lookup(int argc, char *const *argv, int *nwords);

/*
 * Runs one command line (argv without "gwctl" and its global options):
 * parses, sends, prints. Reports errors itself, on ctx->err (and in --json
 * mode as an error object on ctx->out). Returns the exit code.
 */
enum gwctl_exit gwctl_cmd_run(const struct gwctl_ctx *ctx, int argc, char **argv);

/*
 * Parses the words after a command's name into the request's "args" object
 * (caller frees). Returns GWCTL_EXIT_OK, or GWCTL_EXIT_USAGE with a message
 * in err. `*json` is set when --json was among the words, `*help` when
 * --help/-h was. `now` anchors relative --since values.
 */
enum gwctl_exit gwctl_cmd_parse(const struct gwctl_cmd *cmd, int argc, char **argv, time_t now,
                                cJSON **args, bool *json, bool *help, char *err, size_t errlen);

/* Parses a --since value into unix seconds. Returns 0, or -1 if malformed. */
int gwctl_parse_since(const char *s, time_t now, long long *out);
/* Parses "90s", "30m", "24h", "7d", "2w" or plain digits into seconds. */
int gwctl_parse_duration(const char *s, long long *out);

/* "key create --name N [--team T] ..." (caller frees). */
char *gwctl_cmd_synopsis(const struct gwctl_cmd *cmd);

/* Prints "usage: [gwctl ]SYNOPSIS" lines for cmd. */
void gwctl_cmd_usage(FILE *f, const struct gwctl_cmd *cmd, bool in_shell);

/* Help for the words given: all commands, a group ("key") or one command.
 * Returns GWCTL_EXIT_USAGE if the words name no command. */
enum gwctl_exit gwctl_cmd_help(const struct gwctl_ctx *ctx, int argc, char **argv);

/* Prints the whole-program usage (global options and commands). */
void gwctl_print_main_usage(FILE *f);

/* True when this line must stay out of the shell history. */
bool gwctl_cmd_line_is_secret(int argc, char *const *argv);

/* The option --name of cmd (or a common one), or NULL. */
const struct gwctl_param *gwctl_cmd_option(const struct gwctl_cmd *cmd, const char *name);

#endif
