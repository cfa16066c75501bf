/* Arena allocator: a list of blocks, the newest first; oversized requests get
 * a block of their own. Cleanup hooks are a singly linked list in the arena. */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

struct block {
    struct block *next;
    size_t size, used;
    _Alignas(16) unsigned char mem[];
};

struct cleanup {
    struct cleanup *next;
    void (*fn)(void *);
    void *arg;
};

struct gw_arena {
    struct block *blocks;
    struct cleanup *cleanups;
    size_t block_size;
};

static struct block *block_new(size_t size)
{
    struct block *b = malloc(sizeof *b + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

struct gw_arena *gw_arena_new(size_t first_block)
{
    struct gw_arena *a = malloc(sizeof *a);
    if (!a)
        return NULL;
    a->block_size = first_block < 1024 ? 1024 : first_block;
    a->cleanups = NULL;
    a->blocks = block_new(a->block_size);
    if (!a->blocks) {
        free(a);
        return NULL;
    }
    return a;
}

void *gw_arena_alloc(struct gw_arena *a, size_t n)
{
    if (n > ((size_t)-1 >> 1))
        return NULL; /* no block can hold it; rounding would wrap */
    n = (n + 15) & ~(size_t)15;
    struct block *b = a->blocks;
    if (b->size - b->used < n) {
        if (n > a->block_size / 2) {
            /* big allocation: its own block, kept behind the current one */
            struct block *big = block_new(n);
            if (!big)
                return NULL;
            big->used = n;
            big->next = b->next;
            b->next = big;
            return big->mem;
        }
        if (a->block_size < 65536)
            a->block_size *= 2;
        struct block *nb = block_new(a->block_size);
        if (!nb)
            return NULL;
        nb->next = b;
        a->blocks = b = nb;
    }
    void *p = b->mem + b->used;
    b->used += n;
    return p;
}

void *gw_arena_calloc(struct gw_arena *a, size_t n)
{
    void *p = gw_arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *gw_arena_strndup(struct gw_arena *a, const char *s, size_t n)
{
    char *p = gw_arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *gw_arena_strdup(struct gw_arena *a, const char *s)
{
    return s ? gw_arena_strndup(a, s, strlen(s)) : NULL;
}

int gw_arena_on_destroy(struct gw_arena *a, void (*fn)(void *), void *arg)
{
    struct cleanup *c = gw_arena_alloc(a, sizeof *c);
    if (!c) {
        fn(arg);
        return -1;
    }
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}

void gw_arena_destroy(struct gw_arena *a)
{
    if (!a)
        return;
    for (struct cleanup *c = a->cleanups; c; c = c->next)
        c->fn(c->arg);
    struct block *b = a->blocks;
    while (b) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}
