/* The semantic vector index (semindex.h).
 *
 * DESIGN. Each partition keeps three parallel arrays, slot by slot: ids,
 * SimHash signatures (GW_SEMINDEX_BITS / 64 words) and normalised vectors.
 * A table from id to (partition, slot) finds an entry to replace or remove;
 * removal moves the partition's last entry into the hole (swap-remove), so
 * the arrays stay dense and a scan touches nothing else. Both tables are
 * open addressing with linear probing and backward-shift deletion (no
 * tombstones).
 *
 * Search in a partition of n entries: n <= GW_SEMINDEX_EXACT_MAX, exact dot
 * products over all; else the query's signature is compared with every
 * entry's (XOR + popcount: 32 bytes per entry instead of 4 * dim), the
 * `candidates` smallest Hamming distances are kept in a bounded max-heap,
 * and only those are re-scored with exact dot products. Entries whose
 * distance is far beyond what min_sim allows (the angle's expected bits
 * plus five standard deviations) are skipped early. The hyperplanes are
 * Gaussian, drawn from a fixed-seed generator per dimension, so a restart
 * rebuilds the same signatures from the stored vectors.
 *
 * One pthread rwlock guards everything (writer-preferring on glibc). */
#include "semindex.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"

#define WORDS (GW_SEMINDEX_BITS / 64)

struct part {
    uint64_t key;
    size_t n, cap;
    int64_t *ids;
    uint64_t *sigs; /* n * WORDS */
    float *vecs;    /* n * dim */
};

struct idslot {
    int64_t id;
    struct part *p; /* NULL: free slot */
    size_t slot;
};

struct gw_semindex {
    pthread_rwlock_t lock;
    int dim;
    int candidates;
    float *planes; /* GW_SEMINDEX_BITS * dim */
    struct part **parts;
    size_t parts_cap, n_parts; /* parts_cap: a power of two */
    struct idslot *ids;
    size_t ids_cap, n_ids;
    size_t (*scan)(const uint64_t *sigs, size_t n, const uint64_t *q, unsigned cut, uint64_t *heap,
                   size_t cap);
};

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t gw_semindex_partition(const char *const *parts, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = parts[i] ? parts[i] : "";
        size_t len = strlen(s);
        /* length-prefixed, so {"ab","c"} and {"a","bc"} differ */
        for (int b = 0; b < 8; b++) {
            h ^= (unsigned char)(len >> (8 * b));
            h *= 0x100000001b3ULL;
        }
        for (size_t k = 0; k < len; k++) {
            h ^= (unsigned char)s[k];
            h *= 0x100000001b3ULL;
        }
    }
    return mix64(h);
}

/* ---------------------------------------------------------------- signatures */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void make_planes(float *planes, int dim)
{
    uint64_t seed = 0x53494d48415348ULL ^ (uint64_t)dim; /* "SIMHASH" */
    size_t n = (size_t)GW_SEMINDEX_BITS * (size_t)dim;
    for (size_t i = 0; i < n; i += 2) {
        /* Box-Muller: two normal deviates from two uniforms in (0, 1] */
        double u1 = ((splitmix64(&seed) >> 11) + 1) * (1.0 / 9007199254740992.0);
        double u2 = (splitmix64(&seed) >> 11) * (1.0 / 9007199254740992.0);
        double r = sqrt(-2.0 * log(u1));
        planes[i] = (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < n)
            planes[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
}

static void signature(const struct gw_semindex *ix, const float *v, uint64_t *sig)
{
    memset(sig, 0, WORDS * sizeof *sig);
    for (int j = 0; j < GW_SEMINDEX_BITS; j++)
        if (gw_vec_dot(ix->planes + (size_t)j * ix->dim, v, ix->dim) >= 0)
            sig[j / 64] |= 1ULL << (j % 64);
}

/* The Hamming scan: a bounded max-heap of (distance << 32 | index), so the
 * root is the worst candidate kept. Returns the number kept (<= cap). */
static inline __attribute__((always_inline)) size_t scan_body(const uint64_t *sigs, size_t n,
                                                              const uint64_t *q, unsigned cut,
                                                              uint64_t *heap, size_t cap)
{
    size_t h = 0;
    uint64_t worst = (uint64_t)(cut + 1) << 32; /* accept distances <= cut */
    for (size_t i = 0; i < n; i++) {
        const uint64_t *s = sigs + i * WORDS;
        unsigned d = 0;
        for (int w = 0; w < WORDS; w++)
            d += (unsigned)__builtin_popcountll(s[w] ^ q[w]);
        uint64_t key = (uint64_t)d << 32 | (uint32_t)i;
        if (key >= worst)
            continue;
        size_t at;
        if (h < cap) {
            at = h++; /* sift up */
            while (at > 0 && heap[(at - 1) / 2] < key) {
                heap[at] = heap[(at - 1) / 2];
                at = (at - 1) / 2;
            }
            heap[at] = key;
        } else {
            at = 0; /* replace the root, sift down */
            for (;;) {
                size_t l = 2 * at + 1, r = l + 1, big = at;
                uint64_t bv = key;
                if (l < h && heap[l] > bv) {
                    big = l;
                    bv = heap[l];
                }
                if (r < h && heap[r] > bv)
                    big = r;
                if (big == at)
                    break;
                heap[at] = heap[big];
                at = big;
            }
            heap[at] = key;
        }
        if (h == cap)
            worst = heap[0];
    }
    return h;
}

static size_t scan_generic(const uint64_t *sigs, size_t n, const uint64_t *q, unsigned cut,
                           uint64_t *heap, size_t cap)
{
    return scan_body(sigs, n, q, cut, heap, cap);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* the same with the POPCNT instruction (x86-64 baseline lacks it) */
__attribute__((target("popcnt"))) static size_t scan_popcnt(const uint64_t *sigs, size_t n,
                                                            const uint64_t *q, unsigned cut,
                                                            uint64_t *heap, size_t cap)
{
    return scan_body(sigs, n, q, cut, heap, cap);
}
#endif

/* Distances beyond this cannot plausibly have a cosine >= min_sim: the
 * expected number of differing bits for that angle, plus five standard
 * deviations and a margin. */
static unsigned hamming_cut(float min_sim)
{
    if (!(min_sim > -1.0f))
        return GW_SEMINDEX_BITS;
    double s = min_sim > 1.0f ? 1.0 : min_sim;
    double p = acos(s) / 3.141592653589793;
    double cut = GW_SEMINDEX_BITS * p + 5.0 * sqrt(GW_SEMINDEX_BITS * p * (1 - p)) + 8;
    return cut >= GW_SEMINDEX_BITS ? GW_SEMINDEX_BITS : (unsigned)cut;
}

/* ---------------------------------------------------------------- tables */

static struct part **part_slot(const struct gw_semindex *ix, uint64_t key)
{
    size_t mask = ix->parts_cap - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask)
        if (!ix->parts[i] || ix->parts[i]->key == key)
            return &ix->parts[i];
}

static struct part *part_find(const struct gw_semindex *ix, uint64_t key)
{
    return *part_slot(ix, key);
}

static int parts_grow(struct gw_semindex *ix)
{
    size_t cap = ix->parts_cap * 2;
    struct part **np = calloc(cap, sizeof *np);
    if (!np)
        return -1;
    struct part **old = ix->parts;
    size_t ocap = ix->parts_cap;
    ix->parts = np;
    ix->parts_cap = cap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i])
            *part_slot(ix, old[i]->key) = old[i];
    free(old);
    return 0;
}

static void part_free(struct part *p)
{
    if (!p)
        return;
    free(p->ids);
    free(p->sigs);
    free(p->vecs);
    free(p);
}

/* Unlinks a partition from the table (backward-shift deletion) and frees it. */
static void part_drop(struct gw_semindex *ix, struct part *p)
{
    size_t mask = ix->parts_cap - 1;
    size_t i = mix64(p->key) & mask;
    while (ix->parts[i] != p)
        i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; ix->parts[j]; j = (j + 1) & mask) {
        size_t home = mix64(ix->parts[j]->key) & mask;
        /* move j into the hole i when its home is not in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            ix->parts[i] = ix->parts[j];
            i = j;
        }
    }
    ix->parts[i] = NULL;
    ix->n_parts--;
    part_free(p);
}

static struct idslot *id_slot(const struct gw_semindex *ix, int64_t id)
{
    size_t mask = ix->ids_cap - 1;
    for (size_t i = mix64((uint64_t)id) & mask;; i = (i + 1) & mask)
        if (!ix->ids[i].p || ix->ids[i].id == id)
            return &ix->ids[i];
}

static int ids_grow(struct gw_semindex *ix)
{
    size_t cap = ix->ids_cap * 2;
    struct idslot *ns = calloc(cap, sizeof *ns);
    if (!ns)
        return -1;
    struct idslot *old = ix->ids;
    size_t ocap = ix->ids_cap;
    ix->ids = ns;
    ix->ids_cap = cap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].p)
            *id_slot(ix, old[i].id) = old[i];
    free(old);
    return 0;
}

static void id_delete(struct gw_semindex *ix, struct idslot *s)
{
    size_t mask = ix->ids_cap - 1;
    size_t i = (size_t)(s - ix->ids);
    for (size_t j = (i + 1) & mask; ix->ids[j].p; j = (j + 1) & mask) {
        size_t home = mix64((uint64_t)ix->ids[j].id) & mask;
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            ix->ids[i] = ix->ids[j];
            i = j;
        }
    }
    ix->ids[i].p = NULL;
    ix->n_ids--;
}

/* Removes slot `slot` of p: the last entry moves into it. */
static void slot_remove(struct gw_semindex *ix, struct part *p, size_t slot)
{
    size_t last = p->n - 1;
    if (slot != last) {
        p->ids[slot] = p->ids[last];
        memcpy(p->sigs + slot * WORDS, p->sigs + last * WORDS, WORDS * sizeof *p->sigs);
        memcpy(p->vecs + slot * (size_t)ix->dim, p->vecs + last * (size_t)ix->dim,
               (size_t)ix->dim * sizeof *p->vecs);
        id_slot(ix, p->ids[slot])->slot = slot;
    }
    p->n--;
}

/* ---------------------------------------------------------------- API */

struct gw_semindex *gw_semindex_new(int dim)
{
    if (dim < 1 || dim > GW_SEMINDEX_MAX_DIM)
        return NULL;
    struct gw_semindex *ix = calloc(1, sizeof *ix);
    if (!ix)
        return NULL;
    ix->dim = dim;
    ix->candidates = 128;
    ix->parts_cap = 16;
    ix->ids_cap = 64;
    ix->parts = calloc(ix->parts_cap, sizeof *ix->parts);
    ix->ids = calloc(ix->ids_cap, sizeof *ix->ids);
    ix->planes = malloc((size_t)GW_SEMINDEX_BITS * (size_t)dim * sizeof *ix->planes);
    pthread_rwlockattr_t attr;
    int locked = 0;
    if (ix->parts && ix->ids && ix->planes && pthread_rwlockattr_init(&attr) == 0) {
#ifdef __GLIBC__
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
        locked = pthread_rwlock_init(&ix->lock, &attr) == 0;
        pthread_rwlockattr_destroy(&attr);
    }
    if (!locked) {
        free(ix->parts);
        free(ix->ids);
        free(ix->planes);
        free(ix);
        return NULL;
    }
    make_planes(ix->planes, dim);
    ix->scan = scan_generic;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt"))
        ix->scan = scan_popcnt;
#endif
    return ix;
}

void gw_semindex_free(struct gw_semindex *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->parts_cap; i++)
        part_free(ix->parts[i]);
    free(ix->parts);
    free(ix->ids);
    free(ix->planes);
    pthread_rwlock_destroy(&ix->lock);
    free(ix);
}

int gw_semindex_dim(const struct gw_semindex *ix)
{
    return ix->dim;
}

void gw_semindex_set_candidates(struct gw_semindex *ix, int n)
{
    pthread_rwlock_wrlock(&ix->lock);
    ix->candidates = n < 16 ? 16 : n > 4096 ? 4096 : n;
    pthread_rwlock_unlock(&ix->lock);
}

/* A normalised copy of v into out; -1 when v is zero or not finite. */
static int normalised(const float *v, int dim, float *out)
{
    memcpy(out, v, (size_t)dim * sizeof *out);
    struct gw_vec g = {.dim = dim, .v = out};
    return gw_vec_normalize(&g);
}

int gw_semindex_add(struct gw_semindex *ix, uint64_t partition, int64_t id, const float *v)
{
    int rc = -1;
    float *vec = malloc((size_t)ix->dim * sizeof *vec);
    if (!vec || normalised(v, ix->dim, vec) < 0) {
        free(vec);
        return -1;
    }
    uint64_t sig[WORDS];
    signature(ix, vec, sig);

    pthread_rwlock_wrlock(&ix->lock);
    /* room first, so that a failure changes nothing */
    if ((ix->n_ids + 1) * 10 > ix->ids_cap * 7 && ids_grow(ix) < 0)
        goto out;
    if ((ix->n_parts + 1) * 10 > ix->parts_cap * 7 && parts_grow(ix) < 0)
        goto out;
    struct part **ps = part_slot(ix, partition);
    struct part *p = *ps;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p)
            goto out;
        p->key = partition;
        *ps = p;
        ix->n_parts++;
    }
    if (p->n == p->cap) {
        /* doubling while small, then by half: less slack at 100k entries */
        size_t cap = p->cap < 16 ? 16 : p->cap < 4096 ? p->cap * 2 : p->cap + p->cap / 2;
        int64_t *ni = realloc(p->ids, cap * sizeof *ni);
        if (ni)
            p->ids = ni;
        uint64_t *ns = ni ? realloc(p->sigs, cap * WORDS * sizeof *ns) : NULL;
        if (ns)
            p->sigs = ns;
        float *nv = ns ? realloc(p->vecs, cap * (size_t)ix->dim * sizeof *nv) : NULL;
        if (nv)
            p->vecs = nv;
        if (!nv) {
            if (p->n == 0)
                part_drop(ix, p);
            goto out;
        }
        p->cap = cap;
    }
    struct idslot *s = id_slot(ix, id);
    if (s->p) {
        /* replace: drop the old entry (its partition may be this one) */
        struct part *op = s->p;
        slot_remove(ix, op, s->slot);
        id_delete(ix, s);
        if (op->n == 0 && op != p)
            part_drop(ix, op);
        s = id_slot(ix, id);
    }
    size_t slot = p->n++;
    p->ids[slot] = id;
    memcpy(p->sigs + slot * WORDS, sig, sizeof sig);
    memcpy(p->vecs + slot * (size_t)ix->dim, vec, (size_t)ix->dim * sizeof *vec);
    *s = (struct idslot){.id = id, .p = p, .slot = slot};
    ix->n_ids++;
    rc = 0;
out:
    pthread_rwlock_unlock(&ix->lock);
    free(vec);
    return rc;
}

int gw_semindex_remove(struct gw_semindex *ix, int64_t id)
{
    pthread_rwlock_wrlock(&ix->lock);
    struct idslot *s = id_slot(ix, id);
    int found = s->p != NULL;
    if (found) {
        struct part *p = s->p;
        slot_remove(ix, p, s->slot);
        id_delete(ix, s);
        if (p->n == 0)
            part_drop(ix, p);
    }
    pthread_rwlock_unlock(&ix->lock);
    return found;
}

size_t gw_semindex_clear_partition(struct gw_semindex *ix, uint64_t partition)
{
    pthread_rwlock_wrlock(&ix->lock);
    struct part *p = part_find(ix, partition);
    size_t n = 0;
    if (p) {
        n = p->n;
        for (size_t i = 0; i < p->n; i++)
            id_delete(ix, id_slot(ix, p->ids[i]));
        part_drop(ix, p);
    }
    pthread_rwlock_unlock(&ix->lock);
    return n;
}

size_t gw_semindex_clear(struct gw_semindex *ix)
{
    pthread_rwlock_wrlock(&ix->lock);
    size_t n = ix->n_ids;
    for (size_t i = 0; i < ix->parts_cap; i++) {
        part_free(ix->parts[i]);
        ix->parts[i] = NULL;
    }
    memset(ix->ids, 0, ix->ids_cap * sizeof *ix->ids);
    ix->n_parts = 0;
    ix->n_ids = 0;
    pthread_rwlock_unlock(&ix->lock);
    return n;
}

size_t gw_semindex_count(struct gw_semindex *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
    size_t n = ix->n_ids;
    pthread_rwlock_unlock(&ix->lock);
    return n;
}

size_t gw_semindex_partition_count(struct gw_semindex *ix, uint64_t partition)
{
    pthread_rwlock_rdlock(&ix->lock);
    struct part *p = part_find(ix, partition);
    size_t n = p ? p->n : 0;
    pthread_rwlock_unlock(&ix->lock);
    return n;
}

size_t gw_semindex_memory(struct gw_semindex *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
    size_t m = sizeof *ix + (size_t)GW_SEMINDEX_BITS * (size_t)ix->dim * sizeof(float) +
               ix->parts_cap * sizeof *ix->parts + ix->ids_cap * sizeof *ix->ids;
    for (size_t i = 0; i < ix->parts_cap; i++) {
        const struct part *p = ix->parts[i];
        if (p)
            m += sizeof *p + p->cap * (sizeof(int64_t) + WORDS * sizeof(uint64_t) +
                                       (size_t)ix->dim * sizeof(float));
    }
    pthread_rwlock_unlock(&ix->lock);
    return m;
}

/* Keeps the k best (similarity, id) in hits, sorted best first; returns the
 * new count. */
static int keep_best(struct gw_semhit *hits, int n, int k, int64_t id, float sim)
{
    if (n == k && sim <= hits[n - 1].sim)
        return n;
    int at = n < k ? n++ : k - 1;
    while (at > 0 && hits[at - 1].sim < sim) {
        hits[at] = hits[at - 1];
        at--;
    }
    hits[at] = (struct gw_semhit){.id = id, .sim = sim};
    return n;
}

static int search(struct gw_semindex *ix, uint64_t partition, const float *q, float min_sim,
                  struct gw_semhit *hits, int k, int exact)
{
    if (k < 1 || k > 256 || !q)
        return -1;
    float stackq[1024];
    float *qn = ix->dim <= 1024 ? stackq : malloc((size_t)ix->dim * sizeof *qn);
    if (!qn)
        return -1;
    if (normalised(q, ix->dim, qn) < 0) {
        if (qn != stackq)
            free(qn);
        return -1;
    }
    uint64_t qs[WORDS];
    if (!exact)
        signature(ix, qn, qs);
    int n = 0;
    pthread_rwlock_rdlock(&ix->lock);
    const struct part *p = part_find(ix, partition);
    size_t dim = (size_t)ix->dim;
    if (p && (exact || p->n <= GW_SEMINDEX_EXACT_MAX)) {
        for (size_t i = 0; i < p->n; i++) {
            float s = gw_vec_dot(p->vecs + i * dim, qn, ix->dim);
            if (s >= min_sim)
                n = keep_best(hits, n, k, p->ids[i], s);
        }
    } else if (p) {
        uint64_t heap[4096];
        size_t cap = (size_t)(ix->candidates > k ? ix->candidates : k);
        size_t h = ix->scan(p->sigs, p->n, qs, hamming_cut(min_sim), heap, cap);
        for (size_t c = 0; c < h; c++) {
            size_t i = (uint32_t)heap[c];
            float s = gw_vec_dot(p->vecs + i * dim, qn, ix->dim);
            if (s >= min_sim)
                n = keep_best(hits, n, k, p->ids[i], s);
        }
    }
    pthread_rwlock_unlock(&ix->lock);
    if (qn != stackq)
        free(qn);
    return n;
}

int gw_semindex_search(struct gw_semindex *ix, uint64_t partition, const float *q, float min_sim,
                       struct gw_semhit *hits, int k)
{
    return search(ix, partition, q, min_sim, hits, k, 0);
}

int gw_semindex_search_exact(struct gw_semindex *ix, uint64_t partition, const float *q,
                             float min_sim, struct gw_semhit *hits, int k)
{
    return search(ix, partition, q, min_sim, hits, k, 1);
}
