/* Timed resumption of suspended MHD connections: the mock never sleeps in a
 * worker thread; a request that must wait (delay_ms, chunk_delay_ms, the
 * hang poll) suspends its connection and registers a deadline here.
 *
 * DESIGN: one timer thread keeps a binary min-heap of (deadline, connection)
 * under a mutex and sleeps on a CLOCK_MONOTONIC condition variable until the
 * earliest deadline, then calls MHD_resume_connection() outside the lock.
 * Suspending and registering happen together under that mutex, and
 * mock_wake_stop() sets the stopping flag under it before resuming all
 * waiters, so afterwards no connection is suspended and none can be: the
 * precondition MHD_stop_daemon() has. */
#include "mock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct mock_wait {
    uint64_t at_ms;
    struct MHD_Connection *conn;
};

static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv;
static pthread_t wake_thread;
static struct mock_wait *heap;
static size_t heap_len, heap_cap;
static atomic_bool stopping;

static void mock_heap_push(struct mock_wait w)
{
    size_t i = heap_len++;
    while (i && heap[(i - 1) / 2].at_ms > w.at_ms) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = w;
}

static struct mock_wait mock_heap_pop(void)
{
    struct mock_wait top = heap[0], last = heap[--heap_len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= heap_len)
            break;
        if (c + 1 < heap_len && heap[c + 1].at_ms < heap[c].at_ms)
            c++;
        if (heap[c].at_ms >= last.at_ms)
            break;
        heap[i] = heap[c];
        i = c;
    }
    if (heap_len)
        heap[i] = last;
    return top;
}

static void *mock_wake_run(void *arg)
{
    pthread_mutex_lock(&wake_mu);
    while (!atomic_load(&stopping)) {
        if (!heap_len) {
            pthread_cond_wait(&wake_cv, &wake_mu);
            continue;
        }
        uint64_t at = heap[0].at_ms;
        if (at > mock_mono_ms()) {
            struct timespec ts = {.tv_sec = (time_t)(at / 1000),
                                  .tv_nsec = (long)(at % 1000) * 1000000L};
            pthread_cond_timedwait(&wake_cv, &wake_mu, &ts);
            continue;
        }
        struct mock_wait w = mock_heap_pop();
        pthread_mutex_unlock(&wake_mu);
        MHD_resume_connection(w.conn);
        pthread_mutex_lock(&wake_mu);
    }
    pthread_mutex_unlock(&wake_mu);
    return NULL;
}

bool mock_wake_start(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wake_cv, &ca);
    pthread_condattr_destroy(&ca);
    return pthread_create(&wake_thread, NULL, mock_wake_run, NULL) == 0;
}

bool mock_wake_at(struct MHD_Connection *conn, uint64_t at_ms)
{
    bool ok = false;
    pthread_mutex_lock(&wake_mu);
    if (atomic_load(&stopping))
        goto out;
    if (heap_len == heap_cap) {
        size_t cap = heap_cap ? heap_cap * 2 : 256;
        struct mock_wait *h = realloc(heap, cap * sizeof *h);
        if (!h)
            goto out;
        heap = h;
        heap_cap = cap;
    }
    MHD_suspend_connection(conn);
    mock_heap_push((struct mock_wait){at_ms, conn});
    if (heap[0].conn == conn)
        pthread_cond_signal(&wake_cv);
    ok = true;
out:
    pthread_mutex_unlock(&wake_mu);
    return ok;
}

bool mock_wake_stopping(void)
{
    return atomic_load(&stopping);
}

void mock_wake_stop(void)
{
    pthread_mutex_lock(&wake_mu);
    atomic_store(&stopping, true);
    pthread_cond_signal(&wake_cv);
    pthread_mutex_unlock(&wake_mu);
    pthread_join(wake_thread, NULL);
    /* The timer thread is gone and nobody can add: resume the rest. */
    for (size_t i = 0; i < heap_len; i++)
        MHD_resume_connection(heap[i].conn);
    free(heap);
    heap = NULL;
    heap_len = heap_cap = 0;
    pthread_cond_destroy(&wake_cv);
}
