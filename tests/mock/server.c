/* HTTP intake of the mock upstream: the libmicrohttpd daemon, request body
 * collection, routing of /v1/... (recording, faults, OpenAI replies) and
 * /_mock/... (control.c), and delivery of the planned reply (delay, hang).
 *
 * DESIGN: MHD runs an internal epoll thread pool (--threads workers) with
 * suspend/resume enabled. Every handler returns at once: a reply that is not
 * due yet suspends the connection and asks wake.c to resume it later, when
 * MHD calls the handler again and the reply is queued. A hanging request
 * re-arms a MOCK_HANG_POLL_MS wake-up and, on each, peeks at the socket to
 * notice the client going away. So no worker thread ever sleeps and waiting
 * responses cost nothing but their sockets. */
#include "mock.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Per-request state, MHD's *con_cls; freed by mock_server_completed. */
struct mock_req {
    char *body;
    size_t len, cap;
    bool too_big, planned, v1, hang;
    uint64_t due_ms;           /* monotonic time the reply may go out */
    unsigned status;           /* planned reply */
    struct MHD_Response *resp; /* planned reply, until queued */
};

struct MHD_Response *mock_reply_json(char *text)
{
    static char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"mock_error\","
                        "\"param\":null,\"code\":null}}";
    struct MHD_Response *r =
        text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(sizeof oom - 1, oom, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return r;
}

static void mock_req_reply(struct mock_req *req, unsigned status, struct MHD_Response *r)
{
    req->status = status;
    req->resp = r;
}

static void mock_req_error(struct mock_req *req, unsigned status, const char *msg, const char *type)
{
    mock_req_reply(req, status, mock_reply_json(mock_openai_error(msg, type, NULL)));
}

/* The reply of a status fault: {"error":{"message":"mock error N",...}}. */
static void mock_req_fault(struct mock_req *req, const struct mock_directives *d)
{
    char msg[32], code[16];
    snprintf(msg, sizeof msg, "mock error %u", d->status);
    snprintf(code, sizeof code, "mock_%u", d->status);
    struct MHD_Response *r = mock_reply_json(mock_openai_error(msg, "mock_error", code));
    if (r && d->retry_after >= 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", d->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    mock_req_reply(req, d->status, r);
}

/* The directives that replace the reply (hang, status, garbage), planned
 * for both chat and embeddings; false when the normal reply should go out. */
static bool mock_plan_fault(struct mock_req *req, const struct mock_directives *d)
{
    req->due_ms += (uint64_t)d->delay_ms;
    if (d->hang) {
        req->hang = true;
    } else if (d->status) {
        mock_req_fault(req, d);
    } else if (d->garbage) {
        static char junk[] = "this is not json";
        struct MHD_Response *r =
            MHD_create_response_from_buffer(sizeof junk - 1, junk, MHD_RESPMEM_PERSISTENT);
        if (r)
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        mock_req_reply(req, MHD_HTTP_OK, r);
    } else {
        return false;
    }
    return true;
}

static void mock_plan_chat(struct MHD_Connection *conn, struct mock_req *req)
{
    struct mock_chat chat;
    const char *err = mock_openai_chat_parse(req->body, req->len, &chat);
    if (err) {
        mock_req_error(req, MHD_HTTP_BAD_REQUEST, err, "invalid_request_error");
        return;
    }
    const struct mock_directives *d = &chat.dir;
    if (mock_plan_fault(req, d)) {
        mock_chat_free(&chat);
        return;
    }
    if (chat.stream) {
        mock_req_reply(req, MHD_HTTP_OK, mock_stream_response(&chat, conn));
    } else {
        char *body = mock_openai_completion(&chat);
        if (body && d->drop_after >= 0)
            mock_req_reply(
                req, MHD_HTTP_OK,
                mock_truncated_response(body, strlen(body), (size_t)d->drop_after, conn));
        else
            mock_req_reply(req, MHD_HTTP_OK, mock_reply_json(body));
    }
    mock_chat_free(&chat);
}

static void mock_plan_v1(struct MHD_Connection *conn, struct mock_req *req, const char *method,
                         const char *url)
{
    struct mock_directives ctl;
    bool post = strcmp(method, "POST") == 0;

    req->v1 = true;
    mock_stats_begin();
    mock_record_add(conn, method, url, req->body, req->len);
    mock_directives_init(&ctl);
    bool failed = mock_faults_take(&ctl);
    req->due_ms = mock_mono_ms() + (uint64_t)ctl.delay_ms;

    if (failed) {
        mock_req_fault(req, &ctl);
    } else if (req->too_big) {
        mock_req_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large",
                       "invalid_request_error");
    } else if (post && strcmp(url, "/v1/chat/completions") == 0) {
        mock_plan_chat(conn, req);
    } else if (post && strcmp(url, "/v1/embeddings") == 0) {
        char *out;
        struct mock_directives d;
        mock_directives_init(&d);
        const char *err = mock_openai_embeddings(req->body, req->len, &out, &d);
        if (err)
            mock_req_error(req, MHD_HTTP_BAD_REQUEST, err, "invalid_request_error");
        else if (mock_plan_fault(req, &d))
            free(out);
        else
            mock_req_reply(req, MHD_HTTP_OK, mock_reply_json(out));
    } else if (strcmp(method, "GET") == 0 && strcmp(url, "/v1/models") == 0) {
        mock_req_reply(req, MHD_HTTP_OK, mock_reply_json(mock_openai_models()));
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "Unknown request URL: %s %.100s", method, url);
        mock_req_error(req, MHD_HTTP_NOT_FOUND, msg, "invalid_request_error");
    }
}

static void mock_plan(struct MHD_Connection *conn, struct mock_req *req, const char *method,
                      const char *url)
{
    req->planned = true;
    if (strncmp(url, "/v1/", 4) == 0) {
        mock_plan_v1(conn, req, method, url);
    } else if (strncmp(url, "/_mock/", 7) == 0) {
        unsigned status;
        struct MHD_Response *r = mock_control_handle(method, url, req->body, req->len, &status);
        mock_req_reply(req, status, r);
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "Unknown request URL: %s %.100s", method, url);
        mock_req_error(req, MHD_HTTP_NOT_FOUND, msg, "invalid_request_error");
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
    if (!req) {
        req = calloc(1, sizeof *req);
        *con_cls = req;
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
    if (req->v1)
        mock_stats_end();
    if (req->resp)
        MHD_destroy_response(req->resp);
    free(req->body);
    free(req);
    *con_cls = NULL;
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
        NULL, MHD_OPTION_ARRAY, pool, MHD_OPTION_END);
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
