/* The writer thread: the only code that writes to SQLite: usage rows, the
 * answers kept with them (durable.h), admin changes.
 *
 * DESIGN: producers (MHD threads finishing requests, the admin thread) push
 * pointers into a bounded multi-producer ring (Dmitry Vyukov's sequence-
 * numbered array queue): a push is one CAS, no lock. The writer pops batches
 * of up to 1,000 items (usage rows linger up to 50 ms for company) and
 * commits them in order; the waiters of admin items are woken after their
 * commit. When the ring is empty the writer sleeps on a condition variable; a producer signals it
 * only if it is actually asleep, so a busy gateway pays no syscall per record. A full ring makes
 * the producer sleep-and-retry (counted as a stall): billing data is delayed, never dropped. Admin
 * changes run in transactions of their own, between runs of usage rows, so a failing change cannot
 * undo usage. Async changes (the response cache's stores and hit counts, writer.h) ride in the
 * usage rows' transactions, each in a savepoint, so a failing one is undone alone. */
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "db.h"
#include "log.h"

#define BATCH_MAX      1000
#define LINGER_US      50000 /* longest a usage row waits for its commit */
#define RING_MASK      (GW_WRITER_RING_SLOTS - 1)
#define PRUNE_EVERY_MS 60000 /* expired kept answers are deleted at most this often */

enum item_kind { ITEM_USAGE, ITEM_JOB, ITEM_STOP, ITEM_ASYNC };

struct job {
    gw_write_fn fn;
    void *arg;
    int rc, done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

struct item {
    enum item_kind kind;
    union {
        struct gw_usage_rec *usage;
        struct job *job;
        struct gw_write_async *async; /* committed with the usage rows */
    } u;
};

struct cell {
    atomic_size_t seq;
    struct item item;
};

static struct {
    struct cell *ring;
    atomic_size_t enq;
    size_t deq;
    pthread_t thread;
    int running;
    sqlite3 *db;
    sqlite3_stmt *ins_usage, *ins_answer, *del_answers;
    long long pruned_ms; /* when expired answers were last deleted */
    pthread_mutex_t sleep_mu;
    pthread_cond_t sleep_cv;
    atomic_int sleeping;
    atomic_llong written, queued, stalls, batches, errors;
} W;

static int ring_push(const struct item *it)
{
    size_t pos = atomic_load_explicit(&W.enq, memory_order_relaxed);
    for (;;) {
        struct cell *c = &W.ring[pos & RING_MASK];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&W.enq, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->item = *it;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return 0;
            }
        } else if (dif < 0) {
            return -1; /* full */
        } else {
            pos = atomic_load_explicit(&W.enq, memory_order_relaxed);
        }
    }
}

static int ring_pop(struct item *out)
{
    struct cell *c = &W.ring[W.deq & RING_MASK];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if ((intptr_t)seq - (intptr_t)(W.deq + 1) != 0)
        return -1; /* empty */
    *out = c->item;
    atomic_store_explicit(&c->seq, W.deq + GW_WRITER_RING_SLOTS, memory_order_release);
    W.deq++;
    return 0;
}

static void push(const struct item *it)
{
    struct timespec pause = {0, 1000000};
    while (ring_push(it) != 0) {
        atomic_fetch_add(&W.stalls, 1);
        nanosleep(&pause, NULL);
    }
    atomic_fetch_add(&W.queued, 1);
    /* pairs with idle_wait: either we see sleeping, or it sees our item */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&W.sleeping)) {
        pthread_mutex_lock(&W.sleep_mu);
        pthread_cond_signal(&W.sleep_cv);
        pthread_mutex_unlock(&W.sleep_mu);
    }
}

void gw_usage_rec_free(struct gw_usage_rec *rec)
{
    if (!rec)
        return;
    free(rec->key_id);
    free(rec->team_id);
    free(rec->endpoint);
    free(rec->model);
    free(rec->provider);
    free(rec->upstream_model);
    free(rec->error);
    free(rec->cache_hit);
    free(rec->prompt_name);
    if (rec->answer) {
        free(rec->answer->content_type);
        free(rec->answer->body);
        free(rec->answer);
    }
    free(rec);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int insert_answer(const struct gw_usage_rec *u)
{
    const struct gw_answer_rec *a = u->answer;
    sqlite3_stmt *st = W.ins_answer;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sqlite3_bind_text(st, 1, u->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, u->created_at_ms);
    if (a->expires_at_ms)
        sqlite3_bind_int64(st, 3, a->expires_at_ms);
    bind_text(st, 4, u->key_id);
    bind_text(st, 5, u->model);
    sqlite3_bind_int(st, 6, u->status);
    sqlite3_bind_int(st, 7, u->stream);
    sqlite3_bind_int(st, 8, a->client_gone);
    sqlite3_bind_int(st, 9, a->complete);
    bind_text(st, 10, a->content_type);
    sqlite3_bind_int64(st, 11, (sqlite3_int64)a->total);
    sqlite3_bind_blob64(st, 12, a->body ? a->body : "", a->len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int insert_usage(const struct gw_usage_rec *u)
{
    sqlite3_stmt *st = W.ins_usage;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sqlite3_bind_text(st, 1, u->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, u->created_at_ms);
    bind_text(st, 3, u->key_id);
    bind_text(st, 4, u->team_id);
    bind_text(st, 5, u->endpoint ? u->endpoint : "");
    bind_text(st, 6, u->model);
    bind_text(st, 7, u->provider);
    bind_text(st, 8, u->upstream_model);
    sqlite3_bind_int(st, 9, u->status);
    sqlite3_bind_int(st, 10, u->stream);
    sqlite3_bind_int64(st, 11, u->prompt_tokens);
    sqlite3_bind_int64(st, 12, u->completion_tokens);
    sqlite3_bind_int64(st, 13, u->cached_tokens);
    sqlite3_bind_double(st, 14, u->cost_usd);
    sqlite3_bind_double(st, 15, u->latency_ms);
    if (u->ttfb_ms >= 0)
        sqlite3_bind_double(st, 16, u->ttfb_ms);
    sqlite3_bind_int64(st, 17, u->overhead_us);
    sqlite3_bind_int(st, 18, u->client_gone);
    bind_text(st, 19, u->error);
    sqlite3_bind_int64(st, 20, u->cache_write_tokens);
    bind_text(st, 21, u->cache_hit);
    sqlite3_bind_int64(st, 22, u->saved_tokens);
    sqlite3_bind_double(st, 23, u->saved_cost_usd);
    bind_text(st, 24, u->prompt_name);
    if (u->prompt_name)
        sqlite3_bind_int(st, 25, u->prompt_version);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return rc;
    return u->answer ? insert_answer(u) : SQLITE_OK;
}

/* An async change in a savepoint of its own: its failure is logged and
 * undone alone, never the batch's usage rows. */
static void run_async(struct gw_write_async *a)
{
    if (sqlite3_exec(W.db, "SAVEPOINT gw_async", NULL, NULL, NULL) != SQLITE_OK)
        return;
    int rc = a->fn(W.db, a);
    if (rc != SQLITE_OK) {
        gw_error("writer: an async change failed: %s", sqlite3_errstr(rc));
        sqlite3_exec(W.db, "ROLLBACK TO gw_async", NULL, NULL, NULL);
    }
    sqlite3_exec(W.db, "RELEASE gw_async", NULL, NULL, NULL);
}

static int insert_item(const struct item *it)
{
    if (it->kind == ITEM_ASYNC) {
        run_async(it->u.async);
        return SQLITE_OK;
    }
    return insert_usage(it->u.usage);
}

/* Deletes the kept answers past their expiry, at most once a minute, inside
 * the current transaction. (Readers never see an expired answer anyway.) A
 * failure is only logged: it must not cost the batch its usage rows. */
static void prune_answers(void)
{
    long long now = gw_wall_ms();
    if (now - W.pruned_ms < PRUNE_EVERY_MS)
        return;
    W.pruned_ms = now;
    sqlite3_stmt *st = W.del_answers;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        gw_error("writer: deleting expired answers failed: %s", sqlite3_errmsg(W.db));
    else if (sqlite3_changes(W.db) > 0)
        gw_debug("writer: deleted %d expired answers", sqlite3_changes(W.db));
    sqlite3_reset(st);
}

static void job_finish(struct job *j, int rc)
{
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    j->done = 1;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* Commits a run of usage rows in one transaction. A failure (disk full, a
 * database locked by an outside process past the busy timeout) rolls back
 * and retries for up to ~10 s before the rows are counted as errors and
 * logged: usage is delayed rather than dropped. */
static void commit_usage(struct item *items, int n)
{
    if (n == 0)
        return;
    int rc = SQLITE_OK;
    for (int attempt = 0; attempt < 100; attempt++) {
        rc = sqlite3_exec(W.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        for (int i = 0; i < n && rc == SQLITE_OK; i++)
            rc = insert_item(&items[i]);
        if (rc == SQLITE_OK)
            prune_answers();
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(W.db, "COMMIT", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            break;
        gw_error("writer: committing %d usage rows failed (%s); retrying", n, sqlite3_errmsg(W.db));
        if (!sqlite3_get_autocommit(W.db))
            sqlite3_exec(W.db, "ROLLBACK", NULL, NULL, NULL);
        struct timespec pause = {0, 100000000};
        nanosleep(&pause, NULL);
    }
    for (int i = 0; i < n; i++) {
        if (items[i].kind == ITEM_ASYNC) {
            items[i].u.async->release(items[i].u.async);
            continue;
        }
        if (rc == SQLITE_OK) {
            atomic_fetch_add(&W.written, 1);
        } else {
            atomic_fetch_add(&W.errors, 1);
            gw_error("writer: usage row %s lost: %s", items[i].u.usage->request_id,
                     sqlite3_errstr(rc));
        }
        gw_usage_rec_free(items[i].u.usage);
    }
}

/* An admin change runs in a transaction of its own, so whatever it does
 * (even a statement that aborts the whole transaction) cannot touch usage
 * rows; its result goes back to the waiting caller after the commit. */
static void run_job(struct job *j)
{
    int rc = SQLITE_OK;
    if (j->fn) {
        rc = sqlite3_exec(W.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = j->fn(W.db, j->arg);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(W.db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK && !sqlite3_get_autocommit(W.db))
            sqlite3_exec(W.db, "ROLLBACK", NULL, NULL, NULL);
    }
    job_finish(j, rc);
}

/* Runs one batch in order: consecutive usage rows share a transaction, each
 * job has its own. Returns 1 if a STOP item was seen. */
static int run_batch(struct item *items, int n)
{
    int stop = 0, run = 0;
    for (int i = 0; i < n; i++) {
        if (items[i].kind == ITEM_USAGE || items[i].kind == ITEM_ASYNC)
            continue;
        commit_usage(items + run, i - run);
        if (items[i].kind == ITEM_JOB)
            run_job(items[i].u.job);
        else
            stop = 1;
        run = i + 1;
    }
    commit_usage(items + run, n - run);
    atomic_fetch_sub(&W.queued, n);
    atomic_fetch_add(&W.batches, 1);
    return stop;
}

/* Sleeps until a producer signals or timeout_us passes. */
static void idle_wait(long long timeout_us)
{
    pthread_mutex_lock(&W.sleep_mu);
    atomic_store(&W.sleeping, 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(timeout_us % 1000000) * 1000;
    ts.tv_sec += timeout_us / 1000000 + ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    /* re-check under the lock: a push between the last pop and here signals
     * only if it saw sleeping set, so look once more before waiting */
    size_t seq = atomic_load_explicit(&W.ring[W.deq & RING_MASK].seq, memory_order_acquire);
    if (seq != W.deq + 1)
        pthread_cond_timedwait(&W.sleep_cv, &W.sleep_mu, &ts);
    atomic_store(&W.sleeping, 0);
    pthread_mutex_unlock(&W.sleep_mu);
}

/* Gathers a batch: everything queued, and while it holds only usage rows,
 * lingers up to LINGER_US for more, so a commit (the expensive part: page
 * writes and the WAL) carries many rows even at moderate load. An admin
 * change or a flush ends the gathering at once. */
static void *writer_main(void *arg)
{
    pthread_setname_np(pthread_self(), "gw-writer");
    static struct item items[BATCH_MAX];
    for (;;) {
        int n = 0, urgent = 0;
        long long first = 0;
        while (n < BATCH_MAX && !urgent) {
            if (ring_pop(&items[n]) == 0) {
                if (n == 0)
                    first = gw_now_us();
                urgent = items[n].kind == ITEM_JOB || items[n].kind == ITEM_STOP;
                n++;
                continue;
            }
            if (n == 0) {
                idle_wait(100000);
                continue;
            }
            long long left = LINGER_US - (gw_now_us() - first);
            if (left <= 0)
                break;
            /* lingering: sleep without asking producers to signal */
            struct timespec pause = {0, (long)(left < 5000 ? left : 5000) * 1000};
            nanosleep(&pause, NULL);
        }
        if (n > 0 && run_batch(items, n))
            return NULL;
    }
    return arg;
}

int gw_writer_start(const char *db_path, char *err, size_t errlen)
{
    W.ring = calloc(GW_WRITER_RING_SLOTS, sizeof *W.ring);
    if (!W.ring) {
        snprintf(err, errlen, "writer: out of memory");
        return -1;
    }
    for (size_t i = 0; i < GW_WRITER_RING_SLOTS; i++)
        atomic_init(&W.ring[i].seq, i);
    atomic_init(&W.enq, 0);
    W.deq = 0;
    W.db = gw_db_open(db_path, GW_DB_READWRITE, err, errlen);
    if (!W.db)
        goto fail;
    /* the writer's connection keeps hot pages in memory and reads through
     * mmap: most of its cost was copying pages in and out of the kernel */
    sqlite3_exec(W.db, "PRAGMA cache_size=-32768; PRAGMA mmap_size=268435456;", NULL, NULL, NULL);
    if (sqlite3_prepare_v3(
            W.db,
            "INSERT OR REPLACE INTO usage (request_id, created_at, key_id, team_id, endpoint, "
            "model, "
            "provider, upstream_model, status, stream, prompt_tokens, completion_tokens, "
            "cached_tokens, cost_usd, latency_ms, ttfb_ms, overhead_us, client_gone, error, "
            "cache_write_tokens, cache_hit, saved_tokens, saved_cost_usd, prompt_name, "
            "prompt_version) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            -1, SQLITE_PREPARE_PERSISTENT, &W.ins_usage, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(W.db,
                           "INSERT OR REPLACE INTO answers (request_id, created_at, expires_at, "
                           "key_id, model, status, stream, client_gone, complete, content_type, "
                           "response_bytes, body) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, SQLITE_PREPARE_PERSISTENT, &W.ins_answer, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(W.db,
                           "DELETE FROM answers WHERE expires_at IS NOT NULL AND expires_at <= ?",
                           -1, SQLITE_PREPARE_PERSISTENT, &W.del_answers, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "writer: %s", sqlite3_errmsg(W.db));
        goto fail;
    }
    pthread_mutex_init(&W.sleep_mu, NULL);
    pthread_cond_init(&W.sleep_cv, NULL);
    if (pthread_create(&W.thread, NULL, writer_main, NULL) != 0) {
        snprintf(err, errlen, "writer: cannot start thread");
        goto fail;
    }
    W.running = 1;
    return 0;
fail:
    sqlite3_finalize(W.ins_usage);
    sqlite3_finalize(W.ins_answer);
    sqlite3_finalize(W.del_answers);
    sqlite3_close(W.db);
    free(W.ring);
    memset(&W, 0, sizeof W);
    return -1;
}

void gw_writer_push_usage(struct gw_usage_rec *rec)
{
    struct item it = {.kind = ITEM_USAGE, .u.usage = rec};
    push(&it);
}

int gw_writer_run(gw_write_fn fn, void *arg)
{
    struct job j = {.fn = fn, .arg = arg};
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    struct item it = {.kind = ITEM_JOB, .u.job = &j};
    push(&it);
    pthread_mutex_lock(&j.mu);
    while (!j.done)
        pthread_cond_wait(&j.cv, &j.mu);
    pthread_mutex_unlock(&j.mu);
    pthread_mutex_destroy(&j.mu);
    pthread_cond_destroy(&j.cv);
    return j.rc;
}

void gw_writer_post(struct gw_write_async *a)
{
    struct item it = {.kind = ITEM_ASYNC, .u.async = a};
    push(&it);
}

void gw_writer_flush(void)
{
    gw_writer_run(NULL, NULL);
}

void gw_writer_stats(struct gw_writer_stats *out)
{
    out->written = atomic_load(&W.written);
    out->queued = atomic_load(&W.queued);
    out->stalls = atomic_load(&W.stalls);
    out->batches = atomic_load(&W.batches);
    out->errors = atomic_load(&W.errors);
}

void gw_writer_stop(void)
{
    if (!W.running)
        return;
    struct item it = {.kind = ITEM_STOP};
    push(&it);
    pthread_join(W.thread, NULL);
    /* anything pushed after STOP (nothing should be) is written here */
    struct item rest;
    while (ring_pop(&rest) == 0)
        if (rest.kind == ITEM_USAGE) {
            insert_usage(rest.u.usage);
            gw_usage_rec_free(rest.u.usage);
        } else if (rest.kind == ITEM_ASYNC) {
            run_async(rest.u.async);
            rest.u.async->release(rest.u.async);
        }
    sqlite3_finalize(W.ins_usage);
    sqlite3_finalize(W.ins_answer);
    sqlite3_finalize(W.del_answers);
    sqlite3_exec(W.db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(W.db);
    free(W.ring);
    pthread_mutex_destroy(&W.sleep_mu);
    pthread_cond_destroy(&W.sleep_cv);
    W.running = 0;
}
