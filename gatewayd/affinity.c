/* Prefix-cache affinity: the fingerprint of a request's stable prefix, and
 * the bounded table of fingerprint -> (deployment, key, warm until)
 * (affinity.h).
 *
 * DESIGN: the table is set-associative: a fingerprint's bucket is WAYS
 * slots, looked at in full on every lookup; a new entry takes a slot of
 * its bucket holding the same fingerprint, else an empty or cold one, else
 * the one that goes cold first (entries are refreshed each time they serve,
 * so that is the least recently used). Each slot is a seqlock: a writer
 * moves its sequence to odd with a compare-and-swap (a slot already being
 * written is skipped: the record is a hint, losing one costs a cache miss),
 * readers retry when the sequence moved under them. Nothing blocks.
 *
 * The fingerprint hashes a canonical walk of the JSON (object members in
 * key order, numbers as their double's bits), so the same prompt hashes the
 * same whatever the whitespace or member order a client used. */
#include "affinity.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 8

struct slot {
    atomic_uint seq; /* odd while a writer is in it */
    atomic_ullong fp;
    atomic_uintptr_t dep, key;
    atomic_llong until_us;
};

struct gw_affinity {
    int max_entries; /* as configured */
    size_t mask;     /* buckets - 1 */
    struct slot *slots;
    int refs; /* under table_mu */
};

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gw_affinity *current;
static atomic_llong n_lookups, n_hits;

/* ---- lifetime ------------------------------------------------------------ */

struct gw_affinity *gw_affinity_acquire(int max_entries)
{
    pthread_mutex_lock(&table_mu);
    struct gw_affinity *a = current;
    if (a && a->max_entries == max_entries) {
        a->refs++;
        pthread_mutex_unlock(&table_mu);
        return a;
    }
    size_t buckets = 1;
    while (buckets * WAYS < (size_t)max_entries)
        buckets *= 2;
    a = calloc(1, sizeof *a);
    if (a && !(a->slots = calloc(buckets * WAYS, sizeof *a->slots))) {
        free(a);
        a = NULL;
    }
    if (a) {
        a->max_entries = max_entries;
        a->mask = buckets - 1;
        a->refs = 1;
        current = a; /* the old one lives on while configs still use it */
    }
    pthread_mutex_unlock(&table_mu);
    return a;
}

void gw_affinity_release(struct gw_affinity *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&table_mu);
    int last = --a->refs == 0;
    if (last && current == a)
        current = NULL;
    pthread_mutex_unlock(&table_mu);
    if (last) {
        free(a->slots);
        free(a);
    }
}

/* ---- the fingerprint ----------------------------------------------------- */

/* FNV-1a, 64 bits, fed piece by piece. */
static void feed(unsigned long long *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 1099511628211ULL;
}

static void feed_str(unsigned long long *h, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    feed(h, &n, sizeof n);
    feed(h, s, n);
}

static int by_key(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

/* A canonical walk of v: type tags, lengths and contents; object members
 * sorted by key. depth bounds the recursion (the parsers bound it too). */
static void feed_json(unsigned long long *h, const cJSON *v, int depth)
{
    unsigned char tag = (unsigned char)(v ? v->type & 0xff : 0);
    feed(h, &tag, 1);
    if (!v || depth > 64)
        return;
    if (cJSON_IsString(v)) {
        feed_str(h, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        feed(h, &v->valuedouble, sizeof v->valuedouble);
    } else if (cJSON_IsArray(v)) {
        for (const cJSON *c = v->child; c; c = c->next)
            feed_json(h, c, depth + 1);
        feed(h, "]", 1);
    } else if (cJSON_IsObject(v)) {
        size_t n = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            n++;
        const cJSON *stack[32], **kids = n <= 32 ? stack : malloc(n * sizeof *kids);
        if (!kids) { /* out of memory: the order as given */
            for (const cJSON *c = v->child; c; c = c->next) {
                feed_str(h, c->string);
                feed_json(h, c, depth + 1);
            }
            return;
        }
        size_t i = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            kids[i++] = c;
        qsort(kids, n, sizeof *kids, by_key);
        for (i = 0; i < n; i++) {
            feed_str(h, kids[i]->string);
            feed_json(h, kids[i], depth + 1);
        }
        feed(h, "}", 1);
        if (kids != stack)
            free(kids);
    }
}

unsigned long long gw_affinity_fingerprint(const char *model, const cJSON *json)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(json, "messages");
    if (!cJSON_IsArray(msgs) || !msgs->child)
        return 0;
    unsigned long long h = 14695981039346656037ULL;
    feed_str(&h, model);
    feed_json(&h, cJSON_GetObjectItemCaseSensitive(json, "tools"), 0);
    for (const cJSON *m = msgs->child; m; m = m->next) {
        feed_json(&h, m, 0);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0)
            break; /* the first user message closes the stable prefix */
    }
    return h ? h : 1;
}

/* ---- the table ----------------------------------------------------------- */

static struct slot *bucket(struct gw_affinity *a, unsigned long long fp)
{
    size_t i = (size_t)((fp >> 32) ^ fp) & a->mask; /* the high half mixed in */
    return &a->slots[i * WAYS];
}

/* A consistent copy of slot s; 0 when a writer is in it. */
static int read_slot(struct slot *s, unsigned long long *fp, uintptr_t *dep, uintptr_t *key,
                     long long *until)
{
    for (int tries = 0; tries < 4; tries++) {
        unsigned s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (s1 & 1)
            return 0;
        *fp = atomic_load_explicit(&s->fp, memory_order_relaxed);
        *dep = atomic_load_explicit(&s->dep, memory_order_relaxed);
        *key = atomic_load_explicit(&s->key, memory_order_relaxed);
        *until = atomic_load_explicit(&s->until_us, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) == s1)
            return 1;
    }
    return 0;
}

int gw_affinity_lookup(struct gw_affinity *a, unsigned long long fp, long long now_us,
                       uintptr_t *dep, uintptr_t *key)
{
    if (!a || !fp)
        return 0;
    struct slot *b = bucket(a, fp);
    for (int i = 0; i < WAYS; i++) {
        unsigned long long f;
        uintptr_t d, k;
        long long until;
        if (read_slot(&b[i], &f, &d, &k, &until) && f == fp && until > now_us && d) {
            *dep = d;
            *key = k;
            return 1;
        }
    }
    return 0;
}

void gw_affinity_record(struct gw_affinity *a, unsigned long long fp, uintptr_t dep, uintptr_t key,
                        long long until_us)
{
    if (!a || !fp)
        return;
    struct slot *b = bucket(a, fp), *use = NULL;
    long long oldest = 0;
    for (int i = 0; i < WAYS; i++) {
        unsigned long long f = atomic_load_explicit(&b[i].fp, memory_order_relaxed);
        long long until = atomic_load_explicit(&b[i].until_us, memory_order_relaxed);
        if (f == fp) {
            use = &b[i];
            break;
        }
        if (!use || until < oldest) /* empty and cold slots have the oldest deadlines */
            use = &b[i], oldest = until;
    }
    unsigned seq = atomic_load_explicit(&use->seq, memory_order_relaxed);
    if ((seq & 1) || !atomic_compare_exchange_strong_explicit(
                         &use->seq, &seq, seq + 1, memory_order_acq_rel, memory_order_relaxed))
        return; /* another writer is in it */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&use->fp, fp, memory_order_relaxed);
    atomic_store_explicit(&use->dep, dep, memory_order_relaxed);
    atomic_store_explicit(&use->key, key, memory_order_relaxed);
    atomic_store_explicit(&use->until_us, until_us, memory_order_relaxed);
    atomic_store_explicit(&use->seq, seq + 2, memory_order_release);
}

long gw_affinity_entries(struct gw_affinity *a, long long now_us, long *capacity)
{
    long n = 0;
    size_t total = a ? (a->mask + 1) * WAYS : 0;
    for (size_t i = 0; i < total; i++)
        if (atomic_load_explicit(&a->slots[i].fp, memory_order_relaxed) &&
            atomic_load_explicit(&a->slots[i].until_us, memory_order_relaxed) > now_us)
            n++;
    if (capacity)
        *capacity = (long)total;
    return n;
}

long gw_affinity_current_entries(long long now_us, long *capacity)
{
    pthread_mutex_lock(&table_mu);
    long n = gw_affinity_entries(current, now_us, capacity);
    pthread_mutex_unlock(&table_mu);
    return n;
}

void gw_affinity_count(int hit)
{
    atomic_fetch_add_explicit(&n_lookups, 1, memory_order_relaxed);
    if (hit)
        atomic_fetch_add_explicit(&n_hits, 1, memory_order_relaxed);
}

void gw_affinity_totals(long long *lookups, long long *hits)
{
    *lookups = atomic_load_explicit(&n_lookups, memory_order_relaxed);
    *hits = atomic_load_explicit(&n_hits, memory_order_relaxed);
}
