/* The upstream worker thread.
 *
 * DESIGN: one thread owns a curl multi handle and an epoll set; libcurl tells
 * it which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to wake
 * (CURLMOPT_TIMERFUNCTION), and the thread calls curl_multi_socket_action for
 * exactly the sockets that are ready. Other threads never touch curl: they
 * queue commands (start, unpause, client gone, stop) on a mutex-protected
 * list and write to an eventfd that is in the same epoll set. Every command
 * holds a reference on its request, so a request outlives its commands.
 *
 * Timeouts: connect and total are curl's own; first byte (from submission to
 * the response head) and idle (between body chunks) are deadlines checked by
 * a sweep every 50 ms while transfers are active. The same sweep probes the
 * sockets of clients whose connection is suspended (a suspended MHD
 * connection does not notice its client leaving): recv(MSG_PEEK) == 0 means
 * gone. Easy handles are pooled; connections are cached by the multi handle
 * and reused across requests.
 *
 * Timed starts (a retry after its backoff): a list sorted by due time under
 * q_mu, whose head bounds the epoll wait; a due timer's function runs on
 * this thread. */
#include "upstream.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "http.h"
#include "log.h"
#include "request.h"

#define SWEEP_US 50000
#define POOL_MAX 256

struct gw_transfer {
    struct gw_request *r;
    CURL *easy;
    struct curl_slist *headers;
    char *url, *body;
    size_t body_len;
    const struct gw_transfer_ops *ops;
    struct gw_timeouts to;
    long long t_submit, t_last;
    int got_head, got_body, paused;
    long status;
    char content_type[128], retry_after[32];
    char errbuf[CURL_ERROR_SIZE];
    struct gw_transfer *prev, *next;
};

/* A timed start (gw_upstream_after): fn(r) runs on this thread at due_us. */
struct timer {
    long long due_us;
    struct gw_request *r; /* holds a reference */
    void (*fn)(struct gw_request *r);
    struct timer *next; /* sorted by due_us */
};

enum cmd_kind { CMD_START, CMD_UNPAUSE, CMD_GONE, CMD_STOP };

struct cmd {
    enum cmd_kind kind;
    struct gw_request *r;
    struct gw_transfer *t; /* CMD_START */
    struct cmd *next;
};

static struct {
    CURLM *multi;
    int epfd, evfd;
    pthread_t thread;
    int running, stopped, closed;
    pthread_mutex_t q_mu;
    struct cmd *q_head, *q_tail;
    long long timer_at; /* curl's requested wake-up (monotonic us), 0 = none */
    struct gw_transfer *active;
    atomic_long n_active;
    CURL *pool[POOL_MAX];
    int n_pool;
    long long next_sweep;
    struct timer *timers; /* q_mu */
} U;

/* ---- commands ----------------------------------------------------------- */

/* Queues a command; returns -1 (and queues nothing) once the worker has
 * been told to stop, so no transfer can start after shutdown began. */
static int enqueue(enum cmd_kind kind, struct gw_request *r, struct gw_transfer *t)
{
    struct cmd *c = calloc(1, sizeof *c);
    if (!c)
        abort(); /* losing a command would leak a request: fail loudly */
    c->kind = kind;
    c->r = r;
    c->t = t;
    pthread_mutex_lock(&U.q_mu);
    if (U.closed) {
        pthread_mutex_unlock(&U.q_mu);
        free(c);
        return -1;
    }
    if (kind == CMD_STOP)
        U.closed = 1;
    if (r)
        gw_request_ref(r);
    if (U.q_tail)
        U.q_tail->next = c;
    else
        U.q_head = c;
    U.q_tail = c;
    pthread_mutex_unlock(&U.q_mu);
    uint64_t one = 1;
    ssize_t w = write(U.evfd, &one, sizeof one);
    (void)w;
    return 0;
}

/* ---- curl callbacks ----------------------------------------------------- */

static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
    struct gw_transfer *t = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', len);
        t->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        t->content_type[0] = t->retry_after[0] = '\0';
    } else if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
        if (t->status >= 200 && !t->got_head) {
            t->got_head = 1;
            t->r->t_up_first_us = gw_now_us();
            t->t_last = t->r->t_up_first_us;
            t->ops->on_headers(t->r, t->status, t->content_type[0] ? t->content_type : NULL,
                               t->retry_after[0] ? t->retry_after : NULL);
        }
    } else {
        const char *colon = memchr(p, ':', len);
        if (colon) {
            size_t nl = (size_t)(colon - p);
            const char *v = colon + 1;
            size_t vl = len - nl - 1;
            while (vl && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
            char *dst = NULL;
            size_t cap = 0;
            if (nl == 12 && strncasecmp(p, "content-type", 12) == 0)
                dst = t->content_type, cap = sizeof t->content_type;
            else if (nl == 11 && strncasecmp(p, "retry-after", 11) == 0)
                dst = t->retry_after, cap = sizeof t->retry_after;
            if (dst) {
                if (vl >= cap)
                    vl = cap - 1;
                memcpy(dst, v, vl);
                dst[vl] = '\0';
            }
        }
    }
    return len;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
    struct gw_transfer *t = ud;
    size_t len = size * n;
    t->t_last = gw_now_us();
    t->got_body = 1;
    size_t rc = t->ops->on_data(t->r, p, len);
    if (rc == GW_UPSTREAM_PAUSE) {
        t->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    return rc;
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct epoll_event ev = {0};
    ev.data.fd = s;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(U.epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(U.multi, s, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (socketp) {
        epoll_ctl(U.epfd, EPOLL_CTL_MOD, s, &ev);
    } else {
        if (epoll_ctl(U.epfd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
            epoll_ctl(U.epfd, EPOLL_CTL_MOD, s, &ev);
        curl_multi_assign(U.multi, s, (void *)1);
    }
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    U.timer_at = timeout_ms < 0 ? 0 : gw_now_us() + timeout_ms * 1000;
    return 0;
}

/* ---- transfer lifecycle ------------------------------------------------- */

static void finish(struct gw_transfer *t, enum gw_upstream_result res, const char *detail)
{
    curl_multi_remove_handle(U.multi, t->easy);
    if (t->prev)
        t->prev->next = t->next;
    else
        U.active = t->next;
    if (t->next)
        t->next->prev = t->prev;
    atomic_fetch_sub(&U.n_active, 1);
    struct gw_request *r = t->r;
    r->t_up_end_us = gw_now_us();
    pthread_mutex_lock(&r->mu);
    r->transfer = NULL;
    r->paused = 0;
    pthread_mutex_unlock(&r->mu);
    t->ops->on_done(r, res, detail);
    if (U.n_pool < POOL_MAX) {
        curl_easy_reset(t->easy);
        U.pool[U.n_pool++] = t->easy;
    } else {
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->headers);
    free(t->url);
    free(t->body);
    free(t);
    gw_request_release(r);
}

static void start(struct gw_transfer *t)
{
    CURL *e = U.stopped ? NULL : U.n_pool ? U.pool[--U.n_pool] : curl_easy_init();
    if (!e) {
        t->ops->on_done(t->r, U.stopped ? GW_UP_ABORTED : GW_UP_ERROR,
                        U.stopped ? "the gateway is shutting down" : "cannot create a transfer");
        curl_slist_free_all(t->headers);
        free(t->url);
        free(t->body);
        gw_request_release(t->r);
        free(t);
        return;
    }
    t->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, t->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)t->to.connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->to.total_ms);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    t->errbuf[0] = '\0';
    t->t_submit = t->t_last = gw_now_us();
    t->r->t_up_start_us = t->t_submit;
    t->next = U.active;
    if (U.active)
        U.active->prev = t;
    U.active = t;
    atomic_fetch_add(&U.n_active, 1);
    pthread_mutex_lock(&t->r->mu);
    t->r->transfer = t;
    pthread_mutex_unlock(&t->r->mu);
    if (curl_multi_add_handle(U.multi, e) != CURLM_OK)
        finish(t, GW_UP_ERROR, "cannot start the transfer");
}

static void unpause(struct gw_transfer *t)
{
    if (!t->paused)
        return;
    t->paused = 0;
    pthread_mutex_lock(&t->r->mu);
    t->r->paused = 0;
    pthread_mutex_unlock(&t->r->mu);
    curl_easy_pause(t->easy, CURLPAUSE_CONT);
}

static int drain_commands(void)
{
    uint64_t v;
    ssize_t rd = read(U.evfd, &v, sizeof v);
    (void)rd;
    pthread_mutex_lock(&U.q_mu);
    struct cmd *c = U.q_head;
    U.q_head = U.q_tail = NULL;
    pthread_mutex_unlock(&U.q_mu);
    int stop = 0;
    while (c) {
        struct cmd *next = c->next;
        struct gw_transfer *t = c->r ? c->r->transfer : NULL;
        switch (c->kind) {
        case CMD_START:
            start(c->t);
            break;
        case CMD_UNPAUSE:
        case CMD_GONE:
            if (t)
                unpause(t);
            break;
        case CMD_STOP:
            stop = 1;
            break;
        }
        if (c->r)
            gw_request_release(c->r);
        free(c);
        c = next;
    }
    return stop;
}

static void check_done(void)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(U.multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct gw_transfer *t;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode cc = m->data.result;
        enum gw_upstream_result res = GW_UP_OK;
        if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
            res = GW_UP_REFUSED;
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            res = GW_UP_TIMEOUT;
        else if (cc == CURLE_WRITE_ERROR)
            res = GW_UP_ABORTED;
        else if (cc != CURLE_OK)
            res = GW_UP_ERROR;
        const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(cc);
        char copy[CURL_ERROR_SIZE];
        strncpy(copy, detail, sizeof copy - 1);
        copy[sizeof copy - 1] = '\0';
        finish(t, res, res == GW_UP_OK ? NULL : copy);
    }
}

/* Client probes and our own first-byte / idle deadlines. */
static void sweep(long long now)
{
    struct gw_transfer *t = U.active;
    while (t) {
        struct gw_transfer *next = t->next;
        struct gw_request *r = t->r;
        int gone_now = 0;
        pthread_mutex_lock(&r->mu);
        if (r->suspended && r->conn && r->fd >= 0 && !r->client_gone) {
            char c;
            ssize_t n = recv(r->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                r->client_gone = 1;
                gone_now = 1;
                gw_http_wake_locked(r);
            }
        }
        int gone = r->client_gone;
        pthread_mutex_unlock(&r->mu);
        if (gone_now)
            gw_debug("%s: client went away while waiting; reading upstream to the end", r->id);
        if (gone && t->paused)
            unpause(t);
        if (!t->got_head && now - t->t_submit > (long long)t->to.first_byte_ms * 1000) {
            finish(t, GW_UP_TIMEOUT, "no response from upstream within first_byte_ms");
        } else if (t->got_head && !t->paused && now - t->t_last > (long long)t->to.idle_ms * 1000) {
            finish(t, GW_UP_TIMEOUT, "upstream idle for longer than idle_ms");
        }
        t = next;
    }
}

/* The earliest timer's due time, 0 if none. */
static long long next_timer(void)
{
    pthread_mutex_lock(&U.q_mu);
    long long due = U.timers ? U.timers->due_us : 0;
    pthread_mutex_unlock(&U.q_mu);
    return due;
}

/* Runs the timers due by now (all of them when stopping: their fn finds
 * the worker closed and answers). */
static void run_timers(long long now, int all)
{
    for (;;) {
        pthread_mutex_lock(&U.q_mu);
        struct timer *t = U.timers;
        if (t && (all || t->due_us <= now))
            U.timers = t->next;
        else
            t = NULL;
        pthread_mutex_unlock(&U.q_mu);
        if (!t)
            return;
        t->fn(t->r);
        gw_request_release(t->r);
        free(t);
    }
}

static void *worker_main(void *arg)
{
    pthread_setname_np(pthread_self(), "gw-upstream");
    struct epoll_event evs[128];
    int stopping = 0;
    for (;;) {
        long long now = gw_now_us();
        long wait_ms = -1;
        if (U.timer_at)
            wait_ms = U.timer_at <= now ? 0 : (long)((U.timer_at - now + 999) / 1000);
        if (U.active) {
            long sweep_ms = U.next_sweep <= now ? 0 : (long)((U.next_sweep - now + 999) / 1000);
            if (wait_ms < 0 || sweep_ms < wait_ms)
                wait_ms = sweep_ms;
        }
        long long due = next_timer();
        if (due) {
            long timer_ms = due <= now ? 0 : (long)((due - now + 999) / 1000);
            if (wait_ms < 0 || timer_ms < wait_ms)
                wait_ms = timer_ms;
        }
        int n = epoll_wait(U.epfd, evs, 128, (int)wait_ms);
        int running;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == U.evfd) {
                if (drain_commands())
                    stopping = 1;
                continue;
            }
            int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                        (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                        (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(U.multi, evs[i].data.fd, flags, &running);
        }
        now = gw_now_us();
        if (U.timer_at && U.timer_at <= now) {
            U.timer_at = 0;
            curl_multi_socket_action(U.multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        check_done();
        run_timers(gw_now_us(), stopping);
        if (U.active && U.next_sweep <= now) {
            sweep(now);
            U.next_sweep = now + SWEEP_US;
        }
        if (stopping) {
            run_timers(0, 1);
            while (U.active)
                finish(U.active, GW_UP_ABORTED, "the gateway is shutting down");
            return arg;
        }
    }
}

/* ---- public ------------------------------------------------------------- */

int gw_upstream_start_worker(char *err, size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init failed");
        return -1;
    }
    U.multi = curl_multi_init();
    U.epfd = epoll_create1(EPOLL_CLOEXEC);
    U.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!U.multi || U.epfd < 0 || U.evfd < 0) {
        snprintf(err, errlen, "upstream worker: %s", strerror(errno));
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = U.evfd};
    epoll_ctl(U.epfd, EPOLL_CTL_ADD, U.evfd, &ev);
    curl_multi_setopt(U.multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(U.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(U.multi, CURLMOPT_MAXCONNECTS, 4096L);
    curl_multi_setopt(U.multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    pthread_mutex_init(&U.q_mu, NULL);
    if (pthread_create(&U.thread, NULL, worker_main, NULL) != 0) {
        snprintf(err, errlen, "upstream worker: cannot start thread");
        return -1;
    }
    U.running = 1;
    return 0;
}

int gw_upstream_submit(struct gw_request *r, struct gw_upstream_spec *spec)
{
    struct gw_transfer *t = calloc(1, sizeof *t);
    if (!t) {
        curl_slist_free_all(spec->headers);
        free(spec->body);
        return -1;
    }
    t->r = r;
    t->headers = curl_slist_append(spec->headers, "Expect:");
    t->url = strdup(spec->url);
    t->body = spec->body;
    t->body_len = spec->body_len;
    t->ops = spec->ops;
    t->to = spec->timeouts;
    gw_request_ref(r); /* the transfer's reference, dropped in finish() */
    if (enqueue(CMD_START, NULL, t) != 0) {
        curl_slist_free_all(t->headers);
        free(t->url);
        free(t->body);
        free(t);
        gw_request_release(r);
        return -1;
    }
    return 0;
}

int gw_upstream_after(struct gw_request *r, long long delay_ms, void (*fn)(struct gw_request *r))
{
    struct timer *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->due_us = gw_now_us() + (delay_ms > 0 ? delay_ms * 1000 : 0);
    t->r = r;
    t->fn = fn;
    pthread_mutex_lock(&U.q_mu);
    if (U.closed) {
        pthread_mutex_unlock(&U.q_mu);
        free(t);
        return -1;
    }
    gw_request_ref(r); /* the timer's reference, dropped once fn has run */
    struct timer **p = &U.timers;
    while (*p && (*p)->due_us <= t->due_us)
        p = &(*p)->next;
    t->next = *p;
    *p = t;
    pthread_mutex_unlock(&U.q_mu);
    uint64_t one = 1; /* the worker recomputes its wait */
    ssize_t w = write(U.evfd, &one, sizeof one);
    (void)w;
    return 0;
}

void gw_upstream_unpause(struct gw_request *r)
{
    enqueue(CMD_UNPAUSE, r, NULL);
}

void gw_upstream_client_gone(struct gw_request *r)
{
    enqueue(CMD_GONE, r, NULL);
}

void gw_upstream_stop_worker(void)
{
    if (!U.running)
        return;
    enqueue(CMD_STOP, NULL, NULL);
    pthread_join(U.thread, NULL);
    U.stopped = 1;
    drain_commands(); /* release anything queued after STOP */
    for (int i = 0; i < U.n_pool; i++)
        curl_easy_cleanup(U.pool[i]);
    U.n_pool = 0;
    curl_multi_cleanup(U.multi);
    close(U.epfd);
    close(U.evfd);
    curl_global_cleanup();
    U.running = 0;
}

long gw_upstream_active(void)
{
    return atomic_load(&U.n_active);
}
