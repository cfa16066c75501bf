/* The admin-protocol client: one request, one validated reply, over the
 * daemon's UNIX socket (docs/admin-protocol.md). */
#ifndef GWCTL_CLIENT_H
#define GWCTL_CLIENT_H

#include <signal.h>

#include <cjson/cJSON.h>

#include "gwctl.h"

/* Longest reply line accepted. The protocol caps a line at 1 MiB; a reader
 * that accepts more is harmless and keeps a large key list readable. */
#define GWCTL_MAX_REPLY (16u << 20)

/* What went wrong, in words fit for the operator. */
struct gwctl_client_err {
    char msg[600];
};

/*
 * Connects to `path`, sends {"id", "cmd", "args"} as one line and reads one
 * reply line, all within `timeout_ms`. `args` may be NULL; it is borrowed.
 * If `*cancel` becomes non-zero while waiting (SIGINT in the shell) the call
 * gives up.
 *
 * Returns GWCTL_EXIT_OK with `*reply` set to the whole reply object (caller
 * frees it with cJSON_Delete), whose shape is checked: "ok" is a bool, a
 * success carries "result", a failure carries "error" with string "code" and
 * "message". Otherwise returns GWCTL_EXIT_CONNECT (no connection could be
 * made) or GWCTL_EXIT_PROTOCOL (timeout, closed connection, malformed reply),
 * with `err` filled in and `*reply` NULL.
 */
enum gwctl_exit gwctl_client_call(const char *path, int timeout_ms, volatile sig_atomic_t *cancel,
                                  const char *cmd, const cJSON *args, cJSON **reply,
                                  struct gwctl_client_err *err);

/*
 * Checks one reply line against the protocol and the request id it answers.
 * Returns the parsed object (caller frees) or NULL with `err` filled in.
 * Exposed for tests.
 */
cJSON *gwctl_client_parse_reply(const char *line, size_t len, double want_id,
                                struct gwctl_client_err *err);

#endif
