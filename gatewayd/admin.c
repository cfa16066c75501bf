/* Admin socket server.
 *
 * DESIGN: one accept thread polls the listening socket (and a stop flag every
 * 200 ms); each accepted connection gets a detached session thread with its
 * own read-only SQLite connection. Sessions read newline-terminated requests
 * (at most 1 MiB each), call gw_admin_dispatch, and write one response line
 * each. Writes go through the writer thread (gw_writer_run), so this file
 * never writes to the database itself. Stop waits for the sessions to end. */
#include "admin.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "log.h"

#define MAX_LINE     (1 << 20)
#define MAX_SESSIONS 32

gw_admin_reload_fn gw_admin_reload;

static struct {
    int fd;
    char path[108];
    char db_path[4096];
    pthread_t thread;
    atomic_int stop;
    atomic_int sessions;
    int running;
} A = {.fd = -1};

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void reply(int fd, const cJSON *id, cJSON *result, const char *code, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull());
    if (result) {
        cJSON_AddTrueToObject(o, "ok");
        cJSON_AddItemToObject(o, "result", result);
    } else {
        cJSON_AddFalseToObject(o, "ok");
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "code", code);
        cJSON_AddStringToObject(e, "message", msg);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s) {
        size_t n = strlen(s);
        s[n] = '\n';
        write_all(fd, s, n + 1);
        free(s);
    }
}

static void handle_line(int fd, struct gw_admin_ctx *ctx, const char *line, size_t len)
{
    cJSON *req = cJSON_ParseWithLength(line, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(req, "args");
    if (!cJSON_IsObject(req)) {
        reply(fd, NULL, NULL, "bad_request", "each line must be a JSON object");
    } else if (!cJSON_IsString(cmd)) {
        reply(fd, id, NULL, "bad_request", "\"cmd\" (a string) is required");
    } else if (args && !cJSON_IsObject(args) && !cJSON_IsNull(args)) {
        reply(fd, id, NULL, "bad_request", "\"args\" must be an object");
    } else {
        ctx->err_code = NULL;
        ctx->err_msg[0] = '\0';
        cJSON *res = gw_admin_dispatch(ctx, cmd->valuestring, cJSON_IsObject(args) ? args : NULL);
        reply(fd, id, res, ctx->err_code ? ctx->err_code : "internal", ctx->err_msg);
    }
    cJSON_Delete(req);
}

static void *session_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct gw_admin_ctx ctx = {.db_path = A.db_path};
    char err[256];
    struct gw_buf in = {0};
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
        (cred.uid != 0 && cred.uid != geteuid())) {
        reply(fd, NULL, NULL, "forbidden", "only root or the gateway's own user may administer it");
        goto out;
    }
    ctx.db = gw_db_open(A.db_path, GW_DB_READONLY, err, sizeof err);
    if (!ctx.db) {
        reply(fd, NULL, NULL, "internal", err);
        goto out;
    }
    while (!atomic_load(&A.stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, 200);
        if (n == 0 || (n < 0 && errno == EINTR))
            continue;
        char buf[65536];
        ssize_t rd = recv(fd, buf, sizeof buf, 0);
        if (rd <= 0)
            break;
        gw_buf_append(&in, buf, (size_t)rd);
        char *nl;
        while (in.len && (nl = memchr(in.data, '\n', in.len))) {
            size_t len = (size_t)(nl - in.data);
            handle_line(fd, &ctx, in.data, len);
            gw_buf_consume(&in, len + 1);
        }
        if (in.len > MAX_LINE) {
            reply(fd, NULL, NULL, "bad_request", "request line longer than 1 MiB");
            break;
        }
    }
out:
    gw_buf_free(&in);
    sqlite3_close(ctx.db);
    close(fd);
    atomic_fetch_sub(&A.sessions, 1);
    return NULL;
}

static void *accept_main(void *arg)
{
    pthread_setname_np(pthread_self(), "gw-admin");
    while (!atomic_load(&A.stop)) {
        struct pollfd p = {.fd = A.fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int c = accept4(A.fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        if (atomic_load(&A.sessions) >= MAX_SESSIONS) {
            reply(c, NULL, NULL, "internal", "too many admin sessions");
            close(c);
            continue;
        }
        atomic_fetch_add(&A.sessions, 1);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, session_main, (void *)(intptr_t)c) != 0) {
            atomic_fetch_sub(&A.sessions, 1);
            close(c);
        }
        pthread_attr_destroy(&attr);
    }
    return arg;
}

int gw_admin_start(const struct gw_config *cfg, const char *db_path, gw_admin_reload_fn reload,
                   char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(cfg->admin_socket) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "admin_socket path too long: %s", cfg->admin_socket);
        return -1;
    }
    strcpy(sa.sun_path, cfg->admin_socket);
    snprintf(A.path, sizeof A.path, "%s", cfg->admin_socket);
    snprintf(A.db_path, sizeof A.db_path, "%s", db_path);
    gw_admin_reload = reload;

    /* a socket file left by a previous run is removed; a live one is not ours */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
        close(probe);
        snprintf(err, errlen, "%s: another gatewayd is already running there", A.path);
        return -1;
    }
    if (probe >= 0)
        close(probe);
    unlink(A.path);

    A.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0177);
    int rc = A.fd < 0 ? -1 : bind(A.fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || chmod(A.path, 0600) != 0 || listen(A.fd, 16) != 0) {
        snprintf(err, errlen, "admin socket %s: %s", A.path, strerror(errno));
        if (A.fd >= 0)
            close(A.fd);
        A.fd = -1;
        return -1;
    }
    atomic_store(&A.stop, 0);
    if (pthread_create(&A.thread, NULL, accept_main, NULL) != 0) {
        snprintf(err, errlen, "admin: cannot start thread");
        return -1;
    }
    A.running = 1;
    return 0;
}

void gw_admin_stop(void)
{
    if (!A.running)
        return;
    atomic_store(&A.stop, 1);
    pthread_join(A.thread, NULL);
    for (int i = 0; i < 100 && atomic_load(&A.sessions) > 0; i++)
        usleep(10000);
    close(A.fd);
    unlink(A.path);
    A.running = 0;
}
