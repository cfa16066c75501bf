/* HTTP intake and response writing on libmicrohttpd.
 *
 * DESIGN: one MHD daemon with an internal thread pool (one thread per core,
 * at least two) on epoll. The access handler is called several times per
 * request: the first call creates the gw_request, the next ones receive the
 * body (bounded by limits.max_body_bytes), and the last one runs the
 * pipeline. A stage that answers at once gets its response queued right
 * there. A stage that starts upstream work (ASYNC) has its connection
 * suspended; the upstream thread resumes it (gw_http_wake_locked) when the
 * answer, or the head of a stream, is ready, and the access handler is
 * called once more to queue it. A stream is a callback response whose reader
 * drains r->out and suspends the connection when it is empty; the upstream
 * thread resumes it when more arrives. "suspended" and the resume decision
 * are guarded by r->mu, and a connection is never resumed after MHD's
 * completion callback has cleared r->conn. */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connlimit.h"
#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "query.h"
#include "request.h"
#include "upstream.h"

static struct MHD_Daemon *daemon_;
static int bound_port;
static _Thread_local uintptr_t accepted_slot;

const char *gw_request_header(struct gw_request *r, const char *name)
{
    if (!r->conn_mhd) /* a sub-request (subrequest.h) has no client headers */
        return NULL;
    return MHD_lookup_connection_value(r->conn_mhd, MHD_HEADER_KIND, name);
}

const char *gw_request_query(struct gw_request *r, const char *name)
{
    if (!r->conn_mhd) /* a sub-request (subrequest.h) has no URL */
        return NULL;
    return MHD_lookup_connection_value(r->conn_mhd, MHD_GET_ARGUMENT_KIND, name);
}

void gw_http_wake_locked(struct gw_request *r)
{
    if (r->suspended && r->conn) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
    }
}

/* ---- routes ------------------------------------------------------------- */

/* A path ending in '/' is a prefix: it matches itself followed by one
 * non-empty segment (an id), which the stage reads from r->path. */
struct route {
    const char *path, *method;
    enum gw_api api; /* GW_API_NONE: answered by http.c itself */
};

static const struct route routes[] = {
    {"/v1/chat/completions", "POST", GW_API_CHAT},
    {"/chat/completions", "POST", GW_API_CHAT},
    {"/v1/models", "GET", GW_API_MODELS},
    {"/models", "GET", GW_API_MODELS},
    {"/v1/embeddings", "POST", GW_API_EMBEDDINGS},
    {"/embeddings", "POST", GW_API_EMBEDDINGS},
    {"/v1/messages", "POST", GW_API_MESSAGES},
    {"/v1/messages/count_tokens", "POST", GW_API_COUNT_TOKENS},
    {"/v1/gw/requests", "GET", GW_API_REQUESTS},
    {"/v1/gw/requests/", "GET", GW_API_REQUESTS},
    {"/api/v1/query", "POST", GW_API_QUERY},
    {"/api/v1/cache/stats", "GET", GW_API_QUERY_CACHE},
    {"/api/v1/cache/entry", "GET", GW_API_QUERY_CACHE},
    {"/api/v1/cache", "DELETE", GW_API_QUERY_CACHE},
    {"/health", "GET", GW_API_NONE},
    {"/metrics", "GET", GW_API_NONE},
};

static int path_matches(const struct route *rt, const char *path)
{
    size_t n = strlen(rt->path);
    if (rt->path[n - 1] != '/')
        return strcmp(path, rt->path) == 0;
    return strncmp(path, rt->path, n) == 0 && path[n] && !strchr(path + n, '/');
}

/* The stages from r->stage on: the first run, or the rest after a stage
 * that waited asked for them (r->resume_pipeline). */
static enum gw_stage_rc run_stages(struct gw_request *r)
{
    enum gw_stage_rc rc = gw_pipeline_run(r);
    if (rc == GW_STAGE_CONTINUE) {
        gw_error_respond(r, 500, "server_error", "internal_error", NULL,
                         "No stage answered the request.");
        rc = GW_STAGE_RESPOND;
    }
    return rc;
}

static enum gw_stage_rc route_request(struct gw_request *r)
{
    int path_known = 0;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        if (!path_matches(&routes[i], r->path))
            continue;
        path_known = 1;
        r->api = routes[i].api; /* errors take the shape of the path's front door */
        if (strcmp(r->method, routes[i].method) != 0 &&
            !(strcmp(r->method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
            continue;
        if (r->api == GW_API_NONE) { /* /health, /metrics: no key needed */
            r->status = 200;
            if (strcmp(r->path, "/metrics") == 0) {
                r->content_type = "text/plain; version=0.0.4";
                gw_metrics_render(&r->out);
            } else {
                r->content_type = "application/json";
                gw_buf_puts(&r->out, "{\"status\":\"ok\"}\n");
            }
            return GW_STAGE_RESPOND;
        }
        if (r->api == GW_API_CHAT || r->api == GW_API_MESSAGES || r->api == GW_API_EMBEDDINGS ||
            r->api == GW_API_QUERY)
            r->record_usage = 1; /* every endpoint that may cost money */
        if (r->body_too_large) {
            gw_error_respond(r, 413, "invalid_request_error", "request_too_large", NULL,
                             "The request body is larger than the limit of %lld bytes.",
                             r->cfg->limits.max_body_bytes);
            return GW_STAGE_RESPOND;
        }
        return run_stages(r);
    }
    if (path_known)
        gw_error_respond(r, 405, "invalid_request_error", "method_not_allowed", NULL,
                         "Method %s is not allowed on %s.", r->method, r->path);
    else
        gw_error_respond(r, 404, "invalid_request_error", "not_found", NULL, "Unknown path %s.",
                         r->path);
    return GW_STAGE_RESPOND;
}

/* ---- responses ---------------------------------------------------------- */

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct gw_request *r = cls;
    int unpause = 0;
    ssize_t rc;
    pthread_mutex_lock(&r->mu);
    if (r->client_gone) {
        rc = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (r->out.len) {
        size_t n = r->out.len < max ? r->out.len : max;
        memcpy(buf, r->out.data, n);
        gw_buf_consume(&r->out, n);
        if (r->paused && r->out.len < (size_t)r->cfg->limits.stream_buffer_bytes / 2) {
            r->paused = 0;
            unpause = 1;
        }
        rc = (ssize_t)n;
    } else if (r->upstream_done) {
        rc = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        r->suspended = 1;
        MHD_suspend_connection(r->conn);
        rc = 0;
    }
    pthread_mutex_unlock(&r->mu);
    if (unpause)
        gw_upstream_unpause(r);
    return rc;
}

static enum MHD_Result queue(struct gw_request *r, struct MHD_Connection *conn)
{
    long long now = gw_now_us();
    r->t_respond_us = now;
    long long upstream_us = 0;
    int streaming;
    pthread_mutex_lock(&r->mu);
    streaming = r->streaming;
    pthread_mutex_unlock(&r->mu);
    if (r->t_up_start_us) {
        long long up_end = streaming ? r->t_up_first_us : r->t_up_end_us;
        if (up_end > r->t_up_start_us)
            upstream_us = up_end - r->t_up_start_us;
    }
    r->overhead_us = now - r->t_start_us - upstream_us;
    if (r->overhead_us < 0)
        r->overhead_us = 0;

    if (!streaming)
        gw_pipeline_done(r); /* the answer is whole: its usage is final */
    struct MHD_Response *resp;
    if (streaming)
        resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, stream_reader, r, NULL);
    else if (r->query_api) /* the query API's own answer (query.h); r->out stays for the cache */
        resp = gw_query_response(r);
    else
        resp = MHD_create_response_from_buffer(r->out.len, r->out.data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    char num[32];
    snprintf(num, sizeof num, "%lld", r->overhead_us);
    MHD_add_response_header(resp, "x-request-id", r->id);
    MHD_add_response_header(resp, "x-gw-overhead-us", num);
    if (r->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (streaming)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    for (const struct gw_header *h = r->headers; h; h = h->next)
        MHD_add_response_header(resp, h->name, h->value);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    r->queued = 1;
    return ret;
}

/* ---- MHD callbacks ------------------------------------------------------ */

static struct gw_request *begin(struct MHD_Connection *conn, const char *url, const char *method)
{
    struct gw_request *r = gw_request_new();
    if (!r)
        return NULL;
    r->conn = r->conn_mhd = conn;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    r->fd = ci ? ci->connect_fd : -1;
    r->method = gw_arena_strdup(r->arena, method);
    const char *q = strchr(url, '?');
    r->path =
        q ? gw_arena_strndup(r->arena, url, (size_t)(q - url)) : gw_arena_strdup(r->arena, url);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "content-length");
    if (cl && strtoll(cl, NULL, 10) > r->cfg->limits.max_body_bytes)
        r->body_too_large = 1;
    return r;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **req_cls)
{
    struct gw_request *r = *req_cls;
    if (!r) {
        r = begin(conn, url, method);
        if (!r)
            return MHD_NO;
        *req_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->body_too_large) {
            if (r->body.len + *upload_size > (size_t)r->cfg->limits.max_body_bytes) {
                r->body_too_large = 1;
                gw_buf_free(&r->body);
            } else if (gw_buf_append(&r->body, upload, *upload_size) != 0) {
                return MHD_NO;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->queued)
        return MHD_YES;
    if (!r->dispatched) {
        r->dispatched = 1;
        if (route_request(r) == GW_STAGE_RESPOND)
            return queue(r, conn);
    }
    /* ASYNC: wait for the upstream thread, unless it is already done. A
     * stage that waited for another request (the cache's single flight) may
     * instead ask for the rest of the stages to run, here, on this thread. */
    for (;;) {
        pthread_mutex_lock(&r->mu);
        int gone = r->client_gone, ready = r->ready, resume = r->resume_pipeline;
        r->resume_pipeline = 0;
        if (!gone && !ready && !resume) {
            r->suspended = 1;
            MHD_suspend_connection(conn);
        }
        pthread_mutex_unlock(&r->mu);
        if (gone)
            return MHD_NO;
        if (ready)
            return queue(r, conn);
        if (!resume)
            return MHD_YES;
        if (run_stages(r) == GW_STAGE_RESPOND)
            return queue(r, conn);
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct gw_request *r = *req_cls;
    if (!r)
        return;
    *req_cls = NULL;
    int tell_upstream = 0;
    pthread_mutex_lock(&r->mu);
    r->conn = NULL;
    r->suspended = 0;
    r->undelivered = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->dispatched;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !r->upstream_done && r->dispatched) {
        r->client_gone = 1;
        tell_upstream = r->transfer != NULL;
    }
    pthread_mutex_unlock(&r->mu);
    if (tell_upstream) {
        gw_debug("%s: client closed the connection; reading upstream to the end", r->id);
        gw_upstream_client_gone(r);
    }
    if (!r->t_respond_us)
        r->t_respond_us = gw_now_us();
    gw_request_release(r);
}

/* Per-address limit: counted at accept, released at close. The slot rides in
 * the connection's socket context (slot + 1, so NULL means not counted). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    unsigned slot;
    if (!gw_connlimit_enter(addr, len, &slot)) {
        gw_debug("http: refused a connection over limits.per_ip_connections");
        return MHD_NO;
    }
    /* handed to on_connection through a per-thread variable: MHD calls the
     * accept policy and then the STARTED notification on the same thread */
    accepted_slot = slot + 1;
    return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_ctx = (void *)(uintptr_t)accepted_slot;
        accepted_slot = 0;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_ctx) {
        gw_connlimit_leave((unsigned)((uintptr_t)*socket_ctx - 1));
        *socket_ctx = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    gw_debug("http: %s", msg);
}

/* ---- daemon ------------------------------------------------------------- */

int gw_http_start(const struct gw_config *cfg, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->listen_port);
    int gai = getaddrinfo(cfg->listen_host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "listen %s:%d: %s", cfg->listen_host, cfg->listen_port,
                 gai_strerror(gai));
        return -1;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : (unsigned)(ncpu > 0 ? ncpu : 2);
    if (threads < 2)
        threads = 2; /* a pool of one is ignored by MHD */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    gw_connlimit_set(cfg->limits.per_ip_connections);
    daemon_ = MHD_start_daemon(
        flags, 0, on_accept, NULL, on_access, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->limits.connection_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->limits.max_connections, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096U,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
        NULL, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!daemon_) {
        snprintf(err, errlen, "cannot listen on %s:%d (address in use, or not allowed?)",
                 cfg->listen_host, cfg->listen_port);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    bound_port = di ? di->port : cfg->listen_port;
    return 0;
}

int gw_http_port(void)
{
    return bound_port;
}

void gw_http_quiesce(void)
{
    if (daemon_) {
        MHD_socket s = MHD_quiesce_daemon(daemon_);
        if (s != MHD_INVALID_SOCKET)
            close(s);
    }
}

void gw_http_stop(void)
{
    if (daemon_)
        MHD_stop_daemon(daemon_);
    daemon_ = NULL;
}
