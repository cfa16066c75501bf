/* What every gwctl module shares: the named exit codes and the context a
 * command runs in (where the daemon is, how to print). */
#ifndef GWCTL_H
#define GWCTL_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#ifndef GW_VERSION
#define GW_VERSION "0.0.0"
#endif

/* Exit codes (documented in docs/gwctl.md; scripts rely on them). */
enum gwctl_exit {
    GWCTL_EXIT_OK = 0,       /* the command succeeded */
    GWCTL_EXIT_DAEMON = 1,   /* the daemon answered with an error */
    GWCTL_EXIT_USAGE = 2,    /* unknown command, bad option, missing argument */
    GWCTL_EXIT_CONNECT = 3,  /* cannot connect to the admin socket */
    GWCTL_EXIT_PROTOCOL = 4, /* connected, but no valid reply (timeout, closed,
                                malformed line) */
};

#define GWCTL_DEFAULT_SOCKET     "./var/gwctl.sock"
#define GWCTL_DEFAULT_TIMEOUT_MS 30000

/* How and where a command runs. Owned by main.c; commands only read it. */
struct gwctl_ctx {
    const char *socket_path;       /* resolved: -s, GWCTL_SOCKET or the default */
    int timeout_ms;                /* per request: connect + send + reply */
    bool json;                     /* --json given before the command */
    bool in_shell;                 /* usage lines read "key show ID", not "gwctl key show ID" */
    volatile sig_atomic_t *cancel; /* set by SIGINT in the shell; may be NULL */
    FILE *out;                     /* results */
    FILE *err;                     /* diagnostics */
};

#endif
