/* Unit tests of gatewayd/writer.c and common/db.c, on a database in a fresh
 * temporary directory: 5,000 usage records pushed from 4 threads are all
 * committed after gw_writer_flush (counted on a separate connection, one row
 * checked field by field); a job that fails after inserting is rolled back
 * alone while the usage rows and the good job of the same batch are
 * kept; what is queued at gw_writer_stop is committed and persists across a
 * reopen and a restart; the database is in WAL mode, user_version is
 * gw_db_schema_version(), migrating twice is a no-op and a newer schema is
 * refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "db.h"
#include "writer.h"

#define N_THREADS  4
#define PER_THREAD 1250

struct fixture {
    char dir[512];
    char db[600];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/gwtest-writer-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof f->db, "%s/gateway.db", f->dir);
    char err[256];
    sqlite3 *db = gw_db_open(f->db, GW_DB_READWRITE, err, sizeof err);
    if (!db || gw_db_migrate(db, err, sizeof err) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        sqlite3_close(db);
        free(f);
        return -1;
    }
    sqlite3_close(db);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char path[700];
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(path, sizeof path, "%s%s", f->db, suffixes[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A connection of the test's own, independent of the code under test. */
static sqlite3 *open_plain(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK)
        fail_msg("open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    long long v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* For the writer thread, where a cmocka failure must not be raised: -2 on error. */
static long long query_int_quiet(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -2;
    long long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -2;
    sqlite3_finalize(st);
    return v;
}

static long long count_on_path(const char *path, const char *sql)
{
    sqlite3 *db = open_plain(path);
    long long n = query_int(db, sql);
    sqlite3_close(db);
    return n;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    assert_non_null(p);
    return p;
}

/* Record i of thread t; odd and even records differ in their optional fields. */
static struct gw_usage_rec *rec_new(const char *tag, int t, int i)
{
    struct gw_usage_rec *u = calloc(1, sizeof *u);
    assert_non_null(u);
    snprintf(u->request_id, sizeof u->request_id, "req_%s%d_%06d", tag, t, i);
    u->created_at_ms = 1700000000000LL + i;
    u->key_id = xstrdup("key_0123456789abcdef");
    u->team_id = i % 2 ? xstrdup("team_odd") : NULL;
    u->endpoint = xstrdup("/v1/chat/completions");
    u->model = xstrdup("echo");
    u->provider = xstrdup("echo");
    u->upstream_model = xstrdup("echo-upstream");
    u->error = i % 2 ? NULL : xstrdup("upstream_timeout");
    u->status = i % 2 ? 200 : 504;
    u->stream = i % 2;
    u->client_gone = i % 3 == 0;
    u->prompt_tokens = i;
    u->completion_tokens = 2LL * i;
    u->cached_tokens = 3;
    u->overhead_us = 150 + t;
    u->cost_usd = 0.25 * i;
    u->latency_ms = 12.5;
    u->ttfb_ms = i % 2 ? 3.5 : -1;
    return u;
}

struct pusher {
    int t;
    const char *tag;
    int n;
};

static void *pusher_main(void *arg)
{
    struct pusher *p = arg;
    for (int i = 0; i < p->n; i++)
        gw_writer_push_usage(rec_new(p->tag, p->t, i));
    return NULL;
}

static void start_writer(const char *path)
{
    char err[256] = "";
    if (gw_writer_start(path, err, sizeof err) != 0)
        fail_msg("gw_writer_start: %s", err);
}

/* Waits until the writer's queue count is n: it drops only after a batch
 * has been handled, just after its waiters are woken. */
static void wait_queued(long long n)
{
    struct gw_writer_stats ws;
    struct timespec pause = {0, 1000000};
    long long t0 = gw_now_us();
    for (;;) {
        gw_writer_stats(&ws);
        if (ws.queued == n)
            return;
        if (gw_now_us() - t0 > 10000000)
            fail_msg("queued stayed at %lld, expected %lld", ws.queued, n);
        nanosleep(&pause, NULL);
    }
}

static void test_push_from_threads(void **state)
{
    struct fixture *f = *state;
    start_writer(f->db);
    pthread_t th[N_THREADS];
    struct pusher p[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        p[t] = (struct pusher){.t = t, .tag = "t", .n = PER_THREAD};
        assert_int_equal(pthread_create(&th[t], NULL, pusher_main, &p[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    gw_writer_flush();

    /* committed: visible on another connection before the writer stops */
    assert_int_equal(count_on_path(f->db, "SELECT count(*) FROM usage"), N_THREADS * PER_THREAD);
    for (int t = 0; t < N_THREADS; t++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM usage WHERE request_id LIKE 'req_t%d_%%'",
                 t);
        assert_int_equal(count_on_path(f->db, sql), PER_THREAD);
    }
    wait_queued(0);
    struct gw_writer_stats ws;
    gw_writer_stats(&ws);
    assert_true(ws.written >= N_THREADS * PER_THREAD);
    assert_int_equal(ws.errors, 0);

    sqlite3 *db = open_plain(f->db);
    sqlite3_stmt *st;
    const char *sql =
        "SELECT created_at, key_id, team_id, endpoint, model, provider, upstream_model, status, "
        "stream, prompt_tokens, completion_tokens, cached_tokens, cost_usd, latency_ms, ttfb_ms, "
        "overhead_us, client_gone, error FROM usage WHERE request_id = ?";
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);

    /* an even record: no team, no time to first byte, an error */
    sqlite3_bind_text(st, 1, "req_t2_000100", -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 1700000000100LL);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "key_0123456789abcdef");
    assert_int_equal(sqlite3_column_type(st, 2), SQLITE_NULL);
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "/v1/chat/completions");
    assert_string_equal((const char *)sqlite3_column_text(st, 4), "echo");
    assert_string_equal((const char *)sqlite3_column_text(st, 5), "echo");
    assert_string_equal((const char *)sqlite3_column_text(st, 6), "echo-upstream");
    assert_int_equal(sqlite3_column_int(st, 7), 504);
    assert_int_equal(sqlite3_column_int(st, 8), 0);
    assert_int_equal(sqlite3_column_int64(st, 9), 100);
    assert_int_equal(sqlite3_column_int64(st, 10), 200);
    assert_int_equal(sqlite3_column_int64(st, 11), 3);
    assert_true(sqlite3_column_double(st, 12) == 25.0);
    assert_true(sqlite3_column_double(st, 13) == 12.5);
    assert_int_equal(sqlite3_column_type(st, 14), SQLITE_NULL);
    assert_int_equal(sqlite3_column_int64(st, 15), 152);
    assert_int_equal(sqlite3_column_int(st, 16), 0);
    assert_string_equal((const char *)sqlite3_column_text(st, 17), "upstream_timeout");

    /* an odd record: a team, a time to first byte, no error */
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, "req_t1_000007", -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "team_odd");
    assert_int_equal(sqlite3_column_int(st, 7), 200);
    assert_int_equal(sqlite3_column_int(st, 8), 1);
    assert_true(sqlite3_column_double(st, 14) == 3.5);
    assert_int_equal(sqlite3_column_type(st, 17), SQLITE_NULL);
    sqlite3_finalize(st);
    sqlite3_close(db);

    gw_writer_stop();
}

/* ---- a failing job rolls back alone ------------------------------------ */

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, released;
};

static struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

/* Holds the writer inside its transaction until released, so that what is
 * pushed meanwhile is committed together in the next batch. */
static int block_job(sqlite3 *db, void *arg)
{
    pthread_mutex_lock(&gate.mu);
    gate.entered = 1;
    pthread_cond_broadcast(&gate.cv);
    while (!gate.released)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
    return SQLITE_OK;
}

struct fail_seen {
    sqlite3 *outside;        /* the test's own connection */
    long long before_inside; /* "before" rows seen by the writer's connection */
    long long before_outside;
    const char *dup_conflict; /* conflict clause of the failing insert */
    int insert_rc, dup_rc;
};

static int exec_rc(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Inserts a team, then fails on a duplicate of it (inserted with the
 * conflict clause the test chose). */
static int fail_job(sqlite3 *db, void *arg)
{
    struct fail_seen *seen = arg;
    seen->before_inside =
        query_int_quiet(db, "SELECT count(*) FROM usage WHERE request_id LIKE 'req_before%'");
    seen->before_outside = query_int_quiet(
        seen->outside, "SELECT count(*) FROM usage WHERE request_id LIKE 'req_before%'");
    const char *values = "INTO teams (id, name, created_at) VALUES ('team_fail', 'fail', 1)";
    char sql[160];
    snprintf(sql, sizeof sql, "INSERT %s", values);
    seen->insert_rc = exec_rc(db, sql);
    snprintf(sql, sizeof sql, "INSERT %s %s", seen->dup_conflict, values);
    seen->dup_rc = exec_rc(db, sql);
    return seen->dup_rc;
}

static int ok_job(sqlite3 *db, void *arg)
{
    return exec_rc(db, "INSERT INTO teams (id, name, created_at) VALUES ('team_ok', 'ok', 2)");
}

struct runner {
    gw_write_fn fn;
    void *arg;
    int rc;
};

static void *runner_main(void *arg)
{
    struct runner *r = arg;
    r->rc = gw_writer_run(r->fn, r->arg);
    return NULL;
}

/* Queues, while the writer is held, 10 usage rows, a job that inserts then
 * fails, a good job and 10 more usage rows, so that all are handled in one
 * batch; checks that only the failing job's change is undone. */
static void check_failed_job_alone(struct fixture *f, const char *dup_conflict)
{
    start_writer(f->db);
    gw_writer_flush();
    wait_queued(0);

    struct fail_seen seen = {.outside = open_plain(f->db), .dup_conflict = dup_conflict};
    struct runner blocker = {.fn = block_job}, failing = {.fn = fail_job, .arg = &seen},
                  good = {.fn = ok_job};
    pthread_t tb, tf, tg;
    gate.entered = gate.released = 0;
    assert_int_equal(pthread_create(&tb, NULL, runner_main, &blocker), 0);
    pthread_mutex_lock(&gate.mu);
    while (!gate.entered)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);

    /* the writer is held; queue: 10 usage, failing job, good job, 10 usage */
    struct pusher before = {.t = 0, .tag = "before", .n = 10};
    pusher_main(&before);
    assert_int_equal(pthread_create(&tf, NULL, runner_main, &failing), 0);
    wait_queued(1 + 10 + 1);
    assert_int_equal(pthread_create(&tg, NULL, runner_main, &good), 0);
    wait_queued(1 + 10 + 2);
    struct pusher after = {.t = 0, .tag = "after", .n = 10};
    pusher_main(&after);

    pthread_mutex_lock(&gate.mu);
    gate.released = 1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    pthread_join(tb, NULL);
    pthread_join(tf, NULL);
    pthread_join(tg, NULL);
    gw_writer_flush();

    assert_int_equal(blocker.rc, SQLITE_OK);
    /* the failing job ran in a transaction of its own: the "before" rows
     * were already committed (visible to another connection) when it ran */
    assert_int_equal(seen.before_inside, 10);
    assert_int_equal(seen.before_outside, 10);
    assert_int_equal(seen.insert_rc, SQLITE_OK);
    assert_int_equal(seen.dup_rc & 0xff, SQLITE_CONSTRAINT);
    /* its error comes back to the caller, its insert is undone, and nothing
     * else of the transaction is */
    sqlite3 *db = seen.outside;
    long long n_fail = query_int(db, "SELECT count(*) FROM teams WHERE id = 'team_fail'");
    long long n_ok = query_int(db, "SELECT count(*) FROM teams WHERE id = 'team_ok'");
    long long n_before =
        query_int(db, "SELECT count(*) FROM usage WHERE request_id LIKE 'req_before%'");
    long long n_after =
        query_int(db, "SELECT count(*) FROM usage WHERE request_id LIKE 'req_after%'");
    if ((failing.rc & 0xff) != SQLITE_CONSTRAINT || good.rc != SQLITE_OK || n_fail != 0 ||
        n_ok != 1 || n_before != 10 || n_after != 10) {
        sqlite3_close(db);
        gw_writer_stop();
        fail_msg("failing job rc %d (expected %d), good job rc %d (expected 0); rows: "
                 "team_fail %lld (expected 0), team_ok %lld (expected 1), usage before "
                 "%lld (expected 10), usage after %lld (expected 10)",
                 failing.rc, SQLITE_CONSTRAINT, good.rc, n_fail, n_ok, n_before, n_after);
    }
    sqlite3_close(db);
    gw_writer_stop();
}

static void test_failed_job_rolls_back_alone(void **state)
{
    /* the default conflict resolution (ABORT) undoes the failing statement */
    check_failed_job_alone(*state, "");
}

static void test_job_aborting_transaction_rolls_back_alone(void **state)
{
    /* ROLLBACK as the conflict resolution (also what SQLite does by itself on
     * SQLITE_FULL, SQLITE_IOERR or SQLITE_NOMEM) ends the whole transaction
     * from inside the job. writer.h promises the job is rolled back alone and
     * the usage rows of the same batch are kept (billing data is "delayed,
     * never dropped"). */
    check_failed_job_alone(*state, "OR ROLLBACK");
}

static void test_run_returns_job_result(void **state)
{
    struct fixture *f = *state;
    start_writer(f->db);
    assert_int_equal(gw_writer_run(ok_job, NULL), SQLITE_OK);
    /* a second insert of the same team is a constraint error, rolled back */
    assert_int_equal(gw_writer_run(ok_job, NULL) & 0xff, SQLITE_CONSTRAINT);
    gw_writer_stop();
    assert_int_equal(count_on_path(f->db, "SELECT count(*) FROM teams"), 1);
}

/* ---- persistence across stop / reopen / restart ------------------------ */

static void test_stop_commits_and_persists(void **state)
{
    struct fixture *f = *state;
    start_writer(f->db);
    struct pusher p = {.t = 0, .tag = "stop", .n = 300};
    pusher_main(&p);
    /* no flush: stop itself commits what is queued */
    gw_writer_stop();

    char err[256];
    sqlite3 *ro = gw_db_open(f->db, GW_DB_READONLY, err, sizeof err);
    if (!ro)
        fail_msg("reopen: %s", err);
    assert_int_equal(query_int(ro, "SELECT count(*) FROM usage"), 300);
    assert_int_equal(query_int(ro, "PRAGMA user_version"), gw_db_schema_version());
    sqlite3_close(ro);

    /* a second writer on the same file adds to what is there */
    start_writer(f->db);
    struct pusher q = {.t = 1, .tag = "stop", .n = 50};
    pusher_main(&q);
    gw_writer_flush();
    assert_int_equal(count_on_path(f->db, "SELECT count(*) FROM usage"), 350);
    gw_writer_stop();
    assert_int_equal(count_on_path(f->db, "SELECT count(*) FROM usage"), 350);
}

static void test_stop_without_start(void **state)
{
    /* harmless, twice */
    gw_writer_stop();
    gw_writer_stop();
}

/* ---- db.c ------------------------------------------------------------- */

static void test_db_wal_and_version(void **state)
{
    struct fixture *f = *state;
    char err[256];
    sqlite3 *db = gw_db_open(f->db, GW_DB_READWRITE, err, sizeof err);
    if (!db)
        fail_msg("%s", err);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(query_int(db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(query_int(db, "PRAGMA synchronous"), 1); /* NORMAL */

    assert_true(gw_db_schema_version() >= 1);
    assert_int_equal(query_int(db, "PRAGMA user_version"), gw_db_schema_version());
    /* the tables of the first migration exist */
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                   "name IN ('teams', 'keys', 'usage')"),
                     3);
    sqlite3_close(db);
}

static void test_db_migrate_twice(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    sqlite3 *db = gw_db_open(f->db, GW_DB_READWRITE, err, sizeof err);
    if (!db)
        fail_msg("%s", err);
    long long objects = query_int(db, "SELECT count(*) FROM sqlite_master");
    assert_int_equal(exec_rc(db, "INSERT INTO teams (id, name, created_at) VALUES ('t', 'n', 1)"),
                     SQLITE_OK);
    /* setup() migrated already: a second and third run change nothing */
    if (gw_db_migrate(db, err, sizeof err) != 0)
        fail_msg("second migration: %s", err);
    if (gw_db_migrate(db, err, sizeof err) != 0)
        fail_msg("third migration: %s", err);
    assert_int_equal(query_int(db, "PRAGMA user_version"), gw_db_schema_version());
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master"), objects);
    assert_int_equal(query_int(db, "SELECT count(*) FROM teams"), 1);
    sqlite3_close(db);
}

static void test_db_newer_schema_refused(void **state)
{
    struct fixture *f = *state;
    char err[256] = "", sql[64];
    sqlite3 *db = gw_db_open(f->db, GW_DB_READWRITE, err, sizeof err);
    if (!db)
        fail_msg("%s", err);
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", gw_db_schema_version() + 1);
    assert_int_equal(exec_rc(db, sql), SQLITE_OK);
    assert_int_equal(gw_db_migrate(db, err, sizeof err), -1);
    if (!strstr(err, "newer"))
        fail_msg("unexpected error: %s", err);
    sqlite3_close(db);
}

static void test_db_open_errors(void **state)
{
    struct fixture *f = *state;
    char err[256] = "", path[700];
    snprintf(path, sizeof path, "%s/missing/dir/x.db", f->dir);
    assert_null(gw_db_open(path, GW_DB_READWRITE, err, sizeof err));
    if (!strstr(err, path))
        fail_msg("error does not name the file: %s", err);
    err[0] = '\0';
    snprintf(path, sizeof path, "%s/absent.db", f->dir);
    assert_null(gw_db_open(path, GW_DB_READONLY, err, sizeof err));
    assert_true(err[0] != '\0');
    assert_int_equal(access(path, F_OK), -1); /* read-only open creates nothing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_push_from_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_job_rolls_back_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_aborting_transaction_rolls_back_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_returns_job_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_commits_and_persists, setup, teardown),
        cmocka_unit_test(test_stop_without_start),
        cmocka_unit_test_setup_teardown(test_db_wal_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_migrate_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests_name("writer", tests, NULL, NULL);
}
