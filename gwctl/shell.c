/*
 * gwctl/shell.c — owns the shell: the interactive readline session (prompt,
 * history in ~/.gwctl_history, tab completion, Ctrl-C handling) and the
 * scripted mode that reads commands from a non-terminal stdin.
 *
 * DESIGN: readline is driven through its callback interface so that Ctrl-C
 * is ours: SIGINT only sets a flag; while editing, the flag discards the line
 * and shows a fresh prompt; while a command waits for the daemon, the client
 * sees the flag and gives up. Completion candidates come from the command
 * table (commands.c) and, for key and team names, from the daemon
 * (key.list / team.list, with a short timeout). A line is kept out of the
 * history when its command is marked secret in the table, when it carries
 * something that looks like a gateway key, or when it starts with a blank.
 *
 * readline's callbacks take no user pointer, so this file keeps the state they
 * need in one static struct, `sh`; nothing outside this file sees it.
 */
#include "shell.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "client.h"
#include "commands.h"

#define GWCTL_PROMPT              "gwctl> "
#define GWCTL_HISTORY_FILE        ".gwctl_history"
#define GWCTL_HISTORY_MAX         1000
#define GWCTL_COMPLETE_TIMEOUT_MS 1000

static struct {
    const struct gwctl_ctx *ctx; /* for daemon look-ups while completing */
    char **cand;                 /* completion candidates of this TAB */
    size_t ncand, cap, next;
    volatile sig_atomic_t sigint, sigwinch;
    char *line; /* the line readline handed over */
    bool got_line;
} sh;

/* ---- words ---------------------------------------------------------------- */

int gwctl_shell_split(const char *line, char ***argv_out, bool lenient)
{
    size_t cap = 8, n = 0, len = strlen(line);
    char **argv = malloc(cap * sizeof *argv);
    char *word = malloc(len + 1);
    if (!argv || !word) {
        fputs("gwctl: out of memory\n", stderr);
        exit(GWCTL_EXIT_PROTOCOL);
    }
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (!*p)
            break;
        size_t w = 0;
        char quote = 0;
        while (*p && (quote || (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r'))) {
            if (quote == '\'' && *p == '\'') {
                quote = 0;
            } else if (quote == '"' && *p == '"') {
                quote = 0;
            } else if (!quote && (*p == '\'' || *p == '"')) {
                quote = *p;
            } else if (*p == '\\' && quote != '\'' && p[1]) {
                word[w++] = *++p;
            } else {
                word[w++] = *p;
            }
            p++;
        }
        if (quote && !lenient) {
            free(word);
            word = NULL;
            argv[n] = NULL;
            gwctl_shell_free_words(argv);
            *argv_out = NULL;
            return -1;
        }
        word[w] = '\0';
        if (n + 2 > cap) {
            cap *= 2;
            char **grown = realloc(argv, cap * sizeof *argv);
            if (!grown) {
                fputs("gwctl: out of memory\n", stderr);
                exit(GWCTL_EXIT_PROTOCOL);
            }
            argv = grown;
        }
        argv[n++] = strdup(word);
    }
    free(word);
    argv[n] = NULL;
    *argv_out = argv;
    return (int)n;
}

void gwctl_shell_free_words(char **argv)
{
    if (!argv)
        return;
    for (char **a = argv; *a; a++)
        free(*a);
    free(argv);
}

/* ---- completion ------------------------------------------------------------ */

static void cand_clear(void)
{
    for (size_t i = 0; i < sh.ncand; i++)
        free(sh.cand[i]);
    sh.ncand = sh.next = 0;
}

/* Adds prefix+word unless already there. */
static void cand_add(const char *prefix, const char *word)
{
    char *c = NULL;
    if (asprintf(&c, "%s%s", prefix ? prefix : "", word) < 0)
        return;
    for (size_t i = 0; i < sh.ncand; i++)
        if (strcmp(sh.cand[i], c) == 0) {
            free(c);
            return;
        }
    if (sh.ncand == sh.cap) {
        size_t cap = sh.cap ? sh.cap * 2 : 32;
        char **grown = realloc(sh.cand, cap * sizeof *grown);
        if (!grown) {
            free(c);
            return;
        }
        sh.cand = grown;
        sh.cap = cap;
    }
    sh.cand[sh.ncand++] = c;
}

static char *cand_next(const char *text, int state)
{
    size_t n = strlen(text);
    if (state == 0)
        sh.next = 0;
    while (sh.next < sh.ncand) {
        const char *c = sh.cand[sh.next++];
        if (strncmp(c, text, n) == 0)
            return strdup(c);
    }
    return NULL;
}

/* Command words after `n` words already typed: first words, or the second
 * words of a group. */
static void add_command_words(int n, char **words)
{
    for (size_t i = 0; i < gwctl_ncommands; i++) {
        const struct gwctl_cmd *c = &gwctl_commands[i];
        if (n == 0)
            cand_add(NULL, c->words[0]);
        else if (n == 1 && c->words[1] && strcmp(c->words[0], words[0]) == 0)
            cand_add(NULL, c->words[1]);
    }
}

/* Names (and ids) from the daemon; nothing if it does not answer quickly. */
static void add_daemon_names(const char *cmd, const char *list, bool ids, const char *prefix)
{
    cJSON *reply = NULL;
    struct gwctl_client_err err;
    if (gwctl_client_call(sh.ctx->socket_path, GWCTL_COMPLETE_TIMEOUT_MS, NULL, cmd, NULL, &reply,
                          &err) != GWCTL_EXIT_OK)
        return;
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(reply, "result");
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(result, list))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
        if (cJSON_IsString(name))
            cand_add(prefix, name->valuestring);
        if (ids && cJSON_IsString(id))
            cand_add(prefix, id->valuestring);
    }
    cJSON_Delete(reply);
}

static void add_values(const struct gwctl_param *p, const char *prefix)
{
    switch (p->complete) {
    case GWCTL_COMPLETE_CHOICES:
        for (const char *const *c = p->choices; c && *c; c++)
            cand_add(prefix, *c);
        break;
    case GWCTL_COMPLETE_KEY:
        add_daemon_names("key.list", "keys", true, prefix);
        break;
    case GWCTL_COMPLETE_TEAM:
        add_daemon_names("team.list", "teams", false, prefix);
        break;
    case GWCTL_COMPLETE_COMMAND:
    case GWCTL_COMPLETE_NONE:
        break;
    }
}

/*
 * Fills the candidates for `text`, the word under the cursor, after the
 * complete words `words`. Returns the command whose usage is worth showing
 * when nothing can be offered, or NULL.
 */
static const struct gwctl_cmd *fill_candidates(int n, char **words, const char *text)
{
    int nw = 0;
    const struct gwctl_cmd *cmd = n ? gwctl_cmd_lookup(n, words, &nw) : NULL;
    if (!cmd) {
        add_command_words(n, words);
        return NULL;
    }
    if (cmd->params && cmd->nparams && cmd->params[0].complete == GWCTL_COMPLETE_COMMAND) {
        add_command_words(n - nw, words + nw); /* help key cr<TAB> */
        return NULL;
    }

    /* Walk what follows the command's name: used options, operands so far,
     * and whether the last word is an option still waiting for its value. */
    bool used[64] = {false};
    const struct gwctl_param *want_value = NULL;
    size_t operands = 0;
    bool options_done = false;
    for (int i = nw; i < n; i++) {
        const char *w = words[i];
        if (want_value) {
            want_value = NULL;
            continue;
        }
        if (!options_done && strcmp(w, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && strncmp(w, "--", 2) == 0) {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(w + 2, "="), w + 2);
            const struct gwctl_param *p = gwctl_cmd_option(cmd, name);
            if (p && p >= cmd->params && p < cmd->params + cmd->nparams &&
                p - cmd->params < (long)(sizeof used / sizeof used[0]))
                used[p - cmd->params] = true;
            if (p && p->type != GWCTL_T_FLAG && !strchr(w, '='))
                want_value = p;
            continue;
        }
        operands++;
    }

    if (want_value) {
        add_values(want_value, NULL);
        return sh.ncand ? NULL : cmd;
    }
    if (!options_done && strncmp(text, "--", 2) == 0 && strchr(text, '=')) {
        /* --by=te<TAB> */
        char name[64], prefix[80];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(text + 2, "="), text + 2);
        const struct gwctl_param *p = gwctl_cmd_option(cmd, name);
        if (p) {
            snprintf(prefix, sizeof prefix, "--%s=", name);
            add_values(p, prefix);
        }
        return NULL;
    }

    /* The next operand, if the command takes one. */
    const struct gwctl_param *operand = NULL;
    size_t k = 0;
    for (size_t j = 0; j < cmd->nparams; j++)
        if (!cmd->params[j].option && k++ == operands)
            operand = &cmd->params[j];

    if (operand && text[0] != '-') {
        add_values(operand, NULL);
        if (sh.ncand)
            return NULL;
        if (text[0] || operand->required)
            return cmd; /* "team create <TAB>": say that NAME comes next */
    }
    if (!options_done) {
        for (size_t j = 0; j < cmd->nparams; j++)
            if (cmd->params[j].option && !used[j])
                cand_add("--", cmd->params[j].option);
        if (cmd->proto)
            for (size_t j = 0; j < gwctl_ncommon_params; j++)
                cand_add("--", gwctl_common_params[j].option);
    }
    return sh.ncand ? NULL : cmd;
}

static char **complete(const char *text, int start, int end)
{
    rl_attempted_completion_over = 1; /* never fall back to file names */
    cand_clear();

    /* The words before the one being completed (without the quote that opens
     * it, when it is quoted). */
    int upto = start;
    if (upto > 0 && rl_completion_quote_character &&
        rl_line_buffer[upto - 1] == rl_completion_quote_character)
        upto--;
    char *before = strndup(rl_line_buffer, (size_t)upto);
    char **words = NULL;
    int n = before ? gwctl_shell_split(before, &words, true) : -1;
    free(before);
    if (n < 0)
        return NULL;

    const struct gwctl_cmd *hint = fill_candidates(n, words, text);
    gwctl_shell_free_words(words);

    char **matches = rl_completion_matches(text, cand_next);
    if (!matches && hint) {
        /* Nothing to offer: show what the command expects. */
        char *syn = gwctl_cmd_synopsis(hint);
        fprintf(rl_outstream, "\nusage: %s\n", syn);
        free(syn);
        rl_on_new_line();
        rl_redisplay();
    }
    return matches;
}

/* ---- history --------------------------------------------------------------- */

/* ~/.gwctl_history (caller frees), or NULL when there is no home. */
static char *history_path(void)
{
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    char *path = NULL;
    if (!home || asprintf(&path, "%s/" GWCTL_HISTORY_FILE, home) < 0)
        return NULL;
    return path;
}

static bool keep_in_history(const char *line)
{
    if (!*line || *line == ' ' || *line == '\t')
        return false;
    char **words = NULL;
    int n = gwctl_shell_split(line, &words, true);
    bool secret = n > 0 && gwctl_cmd_line_is_secret(n, words);
    gwctl_shell_free_words(words);
    if (n <= 0 || secret)
        return false;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    return !(last && strcmp(last->line, line) == 0);
}

/* ---- reading lines ---------------------------------------------------------- */

static void on_signal(int sig)
{
    if (sig == SIGINT)
        sh.sigint = 1;
    else
        sh.sigwinch = 1;
}

static void on_line(char *line)
{
    sh.line = line;
    sh.got_line = true;
    rl_callback_handler_remove();
}

/* One line from the terminal (caller frees), or NULL at EOF. */
static char *read_interactive(void)
{
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGWINCH);
    sigprocmask(SIG_BLOCK, &block, &orig);

    sh.line = NULL;
    sh.got_line = false;
    sh.sigint = 0;
    rl_callback_handler_install(GWCTL_PROMPT, on_line);
    int fd = fileno(rl_instream ? rl_instream : stdin);
    while (!sh.got_line) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = ppoll(&p, 1, NULL, &orig); /* signals arrive only here */
        if (r < 0 && errno != EINTR) {
            rl_callback_handler_remove();
            break;
        }
        if (sh.sigwinch) {
            sh.sigwinch = 0;
            rl_resize_terminal();
        }
        if (sh.sigint) {
            /* Ctrl-C: drop the line being edited, fresh prompt. */
            sh.sigint = 0;
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_replace_line("", 0);
            fputs("^C", rl_outstream);
            rl_crlf();
            rl_on_new_line();
            rl_redisplay();
            continue;
        }
        if (r > 0)
            rl_callback_read_char();
    }
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return sh.line;
}

/* Runs one line. Returns -1 to leave the shell, else the exit code. */
static int run_line(struct gwctl_ctx *ctx, const char *line)
{
    char **argv = NULL;
    int argc = gwctl_shell_split(line, &argv, false);
    int rc = GWCTL_EXIT_OK;
    if (argc < 0) {
        fprintf(ctx->err, "gwctl: unterminated quote\n");
        if (ctx->json)
            gwctl_print_json_error(ctx->out, "usage_error", "unterminated quote");
        return GWCTL_EXIT_USAGE;
    }
    if (argc == 0 || argv[0][0] == '#')
        goto out;
    const struct gwctl_cmd *cmd = gwctl_cmd_lookup(argc, argv, NULL);
    if (cmd && (cmd->flags & GWCTL_CMD_QUIT)) {
        rc = -1;
        goto out;
    }
    sh.sigint = 0;
    rc = gwctl_cmd_run(ctx, argc, argv);
out:
    gwctl_shell_free_words(argv);
    return rc;
}

static void banner(const struct gwctl_ctx *ctx)
{
    cJSON *reply = NULL;
    struct gwctl_client_err err;
    enum gwctl_exit rc =
        gwctl_client_call(ctx->socket_path, 2000, NULL, "status", NULL, &reply, &err);
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(reply, "result");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(result, "version");
    if (rc == GWCTL_EXIT_OK && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
        char *v = gwctl_format(version, GWCTL_FMT_TEXT, "?");
        printf("gwctl %s, connected to gatewayd %s at %s\n", GW_VERSION, v, ctx->socket_path);
        free(v);
    } else if (rc == GWCTL_EXIT_OK) {
        char *m = gwctl_format(cJSON_GetObjectItemCaseSensitive(
                                   cJSON_GetObjectItemCaseSensitive(reply, "error"), "message"),
                               GWCTL_FMT_TEXT, "");
        printf("gwctl %s; gatewayd at %s refuses: %s\n", GW_VERSION, ctx->socket_path, m);
        free(m);
    } else {
        printf("gwctl %s; %s\n", GW_VERSION, err.msg);
        if (rc == GWCTL_EXIT_CONNECT)
            puts("(is gatewayd running? commands will fail until it is)");
    }
    puts("Type 'help' for the commands, TAB to complete, Ctrl-D or 'quit' to leave.");
    cJSON_Delete(reply);
}

static enum gwctl_exit run_interactive(struct gwctl_ctx *ctx)
{
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: waits see EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);

    rl_readline_name = "gwctl";
    rl_attempted_completion_function = complete;
    rl_completer_word_break_characters = " \t";
    rl_completer_quote_characters = "\"'";
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;

    char *hist = history_path();
    using_history();
    stifle_history(GWCTL_HISTORY_MAX);
    if (hist) {
        int fd = open(hist, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
        read_history(hist);
    }

    banner(ctx);
    for (;;) {
        char *line = read_interactive();
        if (!line) {
            putchar('\n');
            break;
        }
        if (keep_in_history(line)) {
            add_history(line);
            if (hist)
                append_history(1, hist);
        }
        int rc = run_line(ctx, line);
        free(line);
        if (rc < 0)
            break;
    }
    if (hist) {
        history_truncate_file(hist, GWCTL_HISTORY_MAX);
        free(hist);
    }
    cand_clear();
    free(sh.cand);
    sh.cand = NULL;
    sh.cap = 0;
    return GWCTL_EXIT_OK;
}

static enum gwctl_exit run_script(struct gwctl_ctx *ctx)
{
    enum gwctl_exit last_failure = GWCTL_EXIT_OK;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        int rc = run_line(ctx, line);
        if (rc < 0)
            break;
        if (rc != GWCTL_EXIT_OK)
            last_failure = (enum gwctl_exit)rc;
    }
    free(line);
    return last_failure;
}

enum gwctl_exit gwctl_shell_run(struct gwctl_ctx *ctx, bool interactive)
{
    sh.ctx = ctx;
    ctx->in_shell = true;
    ctx->cancel = interactive ? &sh.sigint : NULL;
    return interactive ? run_interactive(ctx) : run_script(ctx);
}
