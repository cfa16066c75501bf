/* HTTP intake of the mock upstream: the libmicrohttpd daemon, request body
 * collection, dispatch of API paths (recording, the control fault, then the
 * route's handler: routes.c) and of /_mock/... (control.c), and delivery of
 * the planned reply (delay, hang).
 *
 * DESIGN: MHD runs an internal epoll thread pool (--threads workers) with
 * suspend/resume enabled. Every handler returns at once: a reply that is not
 * due yet suspends the connection and asks wake.c to resume it later, when
 * MHD calls the handler again and the reply is queued. A hanging request
 * re-arms a MOCK_HANG_POLL_MS wake-up and, on each, peeks at the socket to
 * notice the client going away. So no worker thread ever sleeps and waiting
 * responses cost nothing but their sockets. The request target is kept as
 * received (MHD's URI log callback sees it before unescaping), for the
 * request log and for SigV4, which signs the path as sent. */
#include "mock.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Per-request state, MHD's *con_cls; freed by mock_server_completed. */
struct mock_req {
    char *target; /* request target as received (path and query) */
    char *body;
    size_t len, cap;
    bool started, too_big, planned, api, hang;
    uint64_t due_ms;           /* monotonic time the reply may go out */
    unsigned status;           /* planned reply */
    struct MHD_Response *resp; /* planned reply, until queued */
};

static void mock_req_reply(struct mock_req *req, unsigned status, struct MHD_Response *r)
{
    req->status = status;
    req->resp = r;
}

static void mock_plan_api(struct MHD_Connection *conn, struct mock_req *req, const char *method,
                          const char *url)
{
    struct mock_directives ctl;
    struct mock_call call = {
        .conn = conn,
        .method = method,
        .path = url,
        .target = req->target ? req->target : url,
        .body = req->body ? req->body : "",
        .len = req->len,
    };

    req->api = true;
    mock_stats_begin();
    mock_record_add(conn, method, call.target, req->body, req->len);
    mock_directives_init(&ctl);
    bool failed = mock_faults_take(&ctl);
    mock_handler_fn handler = mock_route_find(&call);
    if (handler == mock_oauth_token)
        mock_oauth_count();

    if (failed) {
        mock_call_reply(&call, ctl.status, mock_fault_response(call.fmt, &ctl));
    } else if (req->too_big) {
        mock_call_error(&call, MHD_HTTP_CONTENT_TOO_LARGE, NULL, "request body too large");
    } else if (handler) {
        handler(&call);
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "Unknown request URL: %s %.100s", method, url);
        mock_call_error(&call, MHD_HTTP_NOT_FOUND,
                        call.fmt == MOCK_FMT_BEDROCK ? "UnknownOperationException" : NULL, msg);
    }
    req->due_ms = mock_mono_ms() + (uint64_t)ctl.delay_ms + (uint64_t)call.delay_ms;
    req->hang = call.hang;
    mock_req_reply(req, call.status, call.resp);
}

static void mock_plan(struct MHD_Connection *conn, struct mock_req *req, const char *method,
                      const char *url)
{
    req->planned = true;
    if (mock_route_is_api(url)) {
        mock_plan_api(conn, req, method, url);
    } else if (strncmp(url, "/_mock/", 7) == 0) {
        unsigned status;
        struct MHD_Response *r = mock_control_handle(method, url, req->body, req->len, &status);
        mock_req_reply(req, status, r);
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "Unknown request URL: %s %.100s", method, url);
        mock_req_reply(req, MHD_HTTP_NOT_FOUND,
                       mock_error_response(MOCK_FMT_OPENAI, MHD_HTTP_NOT_FOUND, NULL, msg));
    }
}

/* True once the peer has closed (or reset) its end of the connection. */
static bool mock_peer_gone(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return true;
    char c;
    ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static enum MHD_Result mock_deliver(struct MHD_Connection *conn, struct mock_req *req)
{
    if (mock_wake_stopping())
        return MHD_NO;
    uint64_t now = mock_mono_ms();
    if (now < req->due_ms)
        return mock_wake_at(conn, req->due_ms) ? MHD_YES : MHD_NO;
    if (req->hang) {
        if (mock_peer_gone(conn))
            return MHD_NO;
        return mock_wake_at(conn, now + MOCK_HANG_POLL_MS) ? MHD_YES : MHD_NO;
    }
    if (!req->resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, req->status, req->resp);
    MHD_destroy_response(req->resp);
    req->resp = NULL;
    return ret;
}

static enum MHD_Result mock_server_access(void *cls, struct MHD_Connection *conn, const char *url,
                                          const char *method, const char *version,
                                          const char *upload, size_t *upload_size, void **con_cls)
{
    struct mock_req *req = *con_cls;
    if (!req || !req->started) {
        if (!req)
            req = calloc(1, sizeof *req);
        *con_cls = req;
        if (req)
            req->started = true;
        return req ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (req->too_big || req->len + n > MOCK_MAX_BODY) {
            req->too_big = true;
            return MHD_YES;
        }
        if (req->len + n + 1 > req->cap) {
            size_t cap = req->cap ? req->cap : 1024;
            while (cap < req->len + n + 1)
                cap *= 2;
            char *b = realloc(req->body, cap);
            if (!b)
                return MHD_NO;
            req->body = b;
            req->cap = cap;
        }
        memcpy(req->body + req->len, upload, n);
        req->len += n;
        req->body[req->len] = '\0';
        return MHD_YES;
    }
    if (!req->planned)
        mock_plan(conn, req, method, url);
    return mock_deliver(conn, req);
}

static void mock_server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                                  enum MHD_RequestTerminationCode toe)
{
    struct mock_req *req = *con_cls;
    if (!req)
        return;
    if (req->api)
        mock_stats_end();
    if (req->resp)
        MHD_destroy_response(req->resp);
    free(req->target);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

/* Sees the request target before MHD splits and unescapes it; the request
 * state starts here so the target can be kept. */
static void *mock_server_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct mock_req *req = calloc(1, sizeof *req);
    if (req)
        req->target = strdup(uri);
    return req;
}

struct MHD_Daemon *mock_server_start(const struct mock_server_opts *o, unsigned *bound_port)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai;
    char port[16];
    snprintf(port, sizeof port, "%u", o->port);
    int rc = getaddrinfo(o->host, port, &hints, &ai);
    if (rc) {
        fprintf(stderr, "mock_upstream: cannot resolve %s: %s\n", o->host, gai_strerror(rc));
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem pool[] = {
        {o->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, o->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, mock_server_access, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, 20000u, MHD_OPTION_CONNECTION_TIMEOUT, 0u,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_NOTIFY_COMPLETED, mock_server_completed,
        NULL, MHD_OPTION_URI_LOG_CALLBACK, mock_server_uri, NULL, MHD_OPTION_ARRAY, pool,
        MHD_OPTION_END);
    int err = errno;
    freeaddrinfo(ai);
    if (!d) {
        fprintf(stderr, "mock_upstream: cannot listen on %s:%u: %s\n", o->host, o->port,
                strerror(err));
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = di ? di->port : o->port;
    return d;
}

void mock_server_stop(struct MHD_Daemon *d)
{
    mock_wake_stop();
    MHD_stop_daemon(d);
}
