/*
 * gwctl/main.c — owns gwctl's start: the global options (-s, -t, --json),
 * where the admin socket is (-s, else $GWCTL_SOCKET, else ./var/gwctl.sock),
 * the choice between one command from argv and the shell, and the exit code.
 *
 * Exit codes are named in gwctl.h and documented in docs/gwctl.md.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "gwctl.h"
#include "shell.h"

/* Seconds, decimal allowed, in (0, 1 day]. Returns ms or -1. */
static int parse_timeout(const char *s)
{
    char *end = NULL;
    double secs = strtod(s, &end);
    if (!*s || *end || !(secs > 0) || secs > 86400)
        return -1;
    int ms = (int)(secs * 1000);
    return ms > 0 ? ms : 1;
}

static void usage_hint(void)
{
    fputs("usage: gwctl [-s SOCKET] [-t SECONDS] [--json] [COMMAND ...]\n"
          "'gwctl --help' lists the options and commands\n",
          stderr);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'}, {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    struct gwctl_ctx ctx = {
        .socket_path = NULL,
        .timeout_ms = GWCTL_DEFAULT_TIMEOUT_MS,
        .out = stdout,
        .err = stderr,
    };
    int c;

    opterr = 0;
    /* '+': stop at the first word, so a command's own options stay its own. */
    while ((c = getopt_long(argc, argv, "+s:t:jhV", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            ctx.socket_path = optarg;
            break;
        case 't':
            ctx.timeout_ms = parse_timeout(optarg);
            if (ctx.timeout_ms < 0) {
                fprintf(stderr, "gwctl: --timeout wants seconds > 0, not '%s'\n", optarg);
                usage_hint();
                return GWCTL_EXIT_USAGE;
            }
            break;
        case 'j':
            ctx.json = true;
            break;
        case 'h':
            gwctl_print_main_usage(stdout);
            return GWCTL_EXIT_OK;
        case 'V':
            puts("gwctl " GW_VERSION);
            return GWCTL_EXIT_OK;
        default:
            if (optopt && strchr("st", optopt))
                fprintf(stderr, "gwctl: option -%c needs a value\n", optopt);
            else if (optopt)
                fprintf(stderr, "gwctl: unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, "gwctl: unknown option '%s'\n", argv[optind - 1]);
            usage_hint();
            return GWCTL_EXIT_USAGE;
        }
    }

    if (!ctx.socket_path || !*ctx.socket_path) {
        const char *env = getenv("GWCTL_SOCKET");
        ctx.socket_path = env && *env ? env : GWCTL_DEFAULT_SOCKET;
    }

    if (optind < argc)
        return gwctl_cmd_run(&ctx, argc - optind, argv + optind);
    return gwctl_shell_run(&ctx, isatty(STDIN_FILENO) != 0);
}
