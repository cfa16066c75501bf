/*
 * gwctl/client.c — owns the conversation with gatewayd's admin socket: connect,
 * send one request line, read and validate one reply line, under one deadline.
 *
 * DESIGN: every command uses a fresh connection. A UNIX-socket connect costs
 * microseconds, and a fresh connection means a daemon restart between two
 * shell commands is never a stale-socket problem, and a request is never
 * re-sent on a connection whose state is unknown (key.create is not
 * idempotent). The protocol allows many requests per connection; gwctl does
 * not need it.
 */
#include "client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define GWCTL_REQUEST_ID 1

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(long long deadline)
{
    long long left = deadline - now_ms();
    return left < 0 ? 0 : (int)left;
}

static void seterr(struct gwctl_client_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void seterr(struct gwctl_client_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

/* Connects within the deadline. Returns the socket or -1 with `err` set. */
static int connect_socket(const char *path, long long deadline, struct gwctl_client_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = -1;

    if (strlen(path) >= sizeof sa.sun_path) {
        seterr(err, "socket path is too long (%zu bytes, at most %zu): %s", strlen(path),
               sizeof sa.sun_path - 1, path);
        goto fail;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        seterr(err, "socket: %s", strerror(errno));
        goto fail;
    }
    /* On Linux a blocking AF_UNIX connect waits at most SO_SNDTIMEO (a full
     * accept backlog); bound it by the request deadline. */
    int ms = remaining_ms(deadline);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    if (ms == 0)
        tv.tv_usec = 1000;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        switch (e) {
        case ENOENT:
            seterr(err, "cannot connect to %s: no such socket", path);
            break;
        case ECONNREFUSED:
            seterr(err, "cannot connect to %s: connection refused (stale socket?)", path);
            break;
        case EAGAIN:
        case EINPROGRESS:
            seterr(err, "cannot connect to %s: timed out (daemon busy?)", path);
            break;
        default:
            seterr(err, "cannot connect to %s: %s", path, strerror(e));
        }
        goto fail;
    }
    return fd;

fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Waits for `events` on fd until the deadline or a cancel. Returns 1 when
 * ready, 0 on timeout, -1 on cancel. */
static int wait_fd(int fd, short events, long long deadline, volatile sig_atomic_t *cancel)
{
    for (;;) {
        if (cancel && *cancel)
            return -1;
        int ms = remaining_ms(deadline);
        if (ms == 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 1; /* let the following read/send report the error */
    }
}

/* Sends the whole buffer. Returns 0, or -1 with `err` set (and errno kept). */
static int send_all(int fd, const char *buf, size_t len, long long deadline,
                    volatile sig_atomic_t *cancel, struct gwctl_client_err *err)
{
    size_t off = 0;
    while (off < len) {
        int w = wait_fd(fd, POLLOUT, deadline, cancel);
        if (w <= 0) {
            seterr(err, w == 0 ? "timed out sending the request" : "interrupted");
            errno = w == 0 ? ETIMEDOUT : EINTR;
            return -1;
        }
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            seterr(err, "sending the request: %s", strerror(errno));
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}

/*
 * Reads up to and excluding the first '\n'. Returns a malloc'd NUL-terminated
 * line (caller frees) with its length in *len, or NULL with `err` set.
 */
static char *read_line(int fd, size_t *len, long long deadline, volatile sig_atomic_t *cancel,
                       const char *path, int timeout_ms, struct gwctl_client_err *err)
{
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    if (!buf) {
        seterr(err, "out of memory");
        return NULL;
    }
    for (;;) {
        int w = wait_fd(fd, POLLIN, deadline, cancel);
        if (w == 0) {
            if (timeout_ms % 1000)
                seterr(err, "no reply from %s within %d.%03d s", path, timeout_ms / 1000,
                       timeout_ms % 1000);
            else
                seterr(err, "no reply from %s within %d s", path, timeout_ms / 1000);
            goto fail;
        }
        if (w < 0) {
            seterr(err, "interrupted while waiting for the reply");
            goto fail;
        }
        if (cap - used < 2048) {
            if (cap >= GWCTL_MAX_REPLY) {
                seterr(err, "reply line longer than %u bytes", GWCTL_MAX_REPLY);
                goto fail;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                seterr(err, "out of memory");
                goto fail;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + used, cap - used - 1, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            seterr(err, "reading the reply: %s", strerror(errno));
            goto fail;
        }
        if (n == 0) {
            if (used == 0)
                seterr(err, "the daemon closed the connection without replying");
            else
                seterr(err,
                       "the daemon closed the connection in the middle of a reply "
                       "(%zu bytes, no newline)",
                       used);
            goto fail;
        }
        char *nl = memchr(buf + used, '\n', (size_t)n);
        used += (size_t)n;
        if (nl) {
            *len = (size_t)(nl - buf);
            buf[*len] = '\0';
            return buf;
        }
    }
fail:
    free(buf);
    return NULL;
}

cJSON *gwctl_client_parse_reply(const char *line, size_t len, double want_id,
                                struct gwctl_client_err *err)
{
    cJSON *reply = NULL;
    const char *what = NULL;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    reply = cJSON_ParseWithLength(line, len);
    if (!reply) {
        what = "not JSON";
        goto bad;
    }
    if (!cJSON_IsObject(reply)) {
        what = "not a JSON object";
        goto bad;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(reply, "id");
    /* A reply without id is accepted: the daemon refuses a connection
     * (forbidden) before it has read any request. */
    if (id && !cJSON_IsNull(id) && !(cJSON_IsNumber(id) && id->valuedouble == want_id)) {
        what = "reply id does not match the request id";
        goto bad;
    }
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
    if (!cJSON_IsBool(ok)) {
        what = "\"ok\" is missing or not a boolean";
        goto bad;
    }
    if (cJSON_IsTrue(ok)) {
        if (!cJSON_GetObjectItemCaseSensitive(reply, "result")) {
            what = "\"ok\": true without \"result\"";
            goto bad;
        }
    } else {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
        if (!cJSON_IsObject(e) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "code"))) {
            what = "\"ok\": false without an \"error\" object carrying a \"code\" string";
            goto bad;
        }
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        if (m && !cJSON_IsString(m)) {
            what = "error \"message\" is not a string";
            goto bad;
        }
    }
    return reply;

bad:;
    /* Quote the start of the line so the operator sees what came back. */
    char shown[81];
    size_t k = 0;
    for (size_t i = 0; i < len && k < sizeof shown - 1; i++)
        shown[k++] = (line[i] >= 0x20 && line[i] < 0x7f) ? line[i] : '?';
    shown[k] = '\0';
    seterr(err, "malformed reply from the daemon: %s: %s%s", what, shown, len > k ? "..." : "");
    cJSON_Delete(reply);
    return NULL;
}

enum gwctl_exit gwctl_client_call(const char *path, int timeout_ms, volatile sig_atomic_t *cancel,
                                  const char *cmd, const cJSON *args, cJSON **reply,
                                  struct gwctl_client_err *err)
{
    enum gwctl_exit rc = GWCTL_EXIT_PROTOCOL;
    long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : GWCTL_DEFAULT_TIMEOUT_MS);
    cJSON *req = NULL;
    char *text = NULL, *line = NULL;
    size_t len = 0;
    int fd = -1;

    *reply = NULL;
    err->msg[0] = '\0';

    req = cJSON_CreateObject();
    if (!req || !cJSON_AddNumberToObject(req, "id", GWCTL_REQUEST_ID) ||
        !cJSON_AddStringToObject(req, "cmd", cmd)) {
        seterr(err, "out of memory");
        goto out;
    }
    if (args) {
        cJSON *copy = cJSON_Duplicate(args, 1);
        if (!copy || !cJSON_AddItemToObject(req, "args", copy)) {
            cJSON_Delete(copy);
            seterr(err, "out of memory");
            goto out;
        }
    }
    text = cJSON_PrintUnformatted(req);
    if (!text) {
        seterr(err, "out of memory");
        goto out;
    }
    size_t tlen = strlen(text);

    fd = connect_socket(path, deadline, err);
    if (fd < 0) {
        rc = GWCTL_EXIT_CONNECT;
        goto out;
    }

    /* Send the line and its '\n' separately: cJSON's buffer has no room. */
    if (send_all(fd, text, tlen, deadline, cancel, err) != 0 ||
        send_all(fd, "\n", 1, deadline, cancel, err) != 0) {
        /* A refusing daemon (forbidden) writes its error line and closes; the
         * line may still be waiting to be read, and says more than EPIPE. */
        if (errno != EPIPE && errno != ECONNRESET)
            goto out;
        struct gwctl_client_err send_err = *err;
        line = read_line(fd, &len, now_ms() + 200, cancel, path, 200, err);
        if (!line) {
            *err = send_err;
            goto out;
        }
    } else {
        line = read_line(fd, &len, deadline, cancel, path, timeout_ms, err);
        if (!line)
            goto out;
    }

    *reply = gwctl_client_parse_reply(line, len, GWCTL_REQUEST_ID, err);
    if (*reply)
        rc = GWCTL_EXIT_OK;

out:
    if (fd >= 0)
        close(fd);
    free(line);
    free(text);
    cJSON_Delete(req);
    return rc;
}
