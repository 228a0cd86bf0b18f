#include "CMedicareProto.h"

#include <stdlib.h>
#include <string.h>

#define MC_ALIGN 16
#define MC_HEADER 16              /* keeps the payload 16-byte aligned */
#define MC_FIRST_CHUNK (16 * 1024)

typedef struct mc_chunk {
    struct mc_chunk *next;
    size_t size;
    size_t used;
    unsigned char *base;
} mc_chunk;

struct mc_arena {
    mc_chunk *chunks; /* newest first; the last one is the first chunk and is kept */
    ProtobufCAllocator allocator;
    int cached;
};

static _Thread_local mc_arena *thread_arena;
static _Thread_local int thread_arena_busy;

static void *arena_alloc_cb(void *data, size_t size) { return mc_arena_alloc((mc_arena *)data, size); }
static void arena_free_cb(void *data, void *pointer) { (void)data; (void)pointer; }

static mc_chunk *chunk_new(size_t payload) {
    mc_chunk *c = malloc(sizeof(mc_chunk) + payload + MC_ALIGN);
    if (!c) return NULL;
    c->next = NULL;
    c->size = payload;
    c->used = 0;
    uintptr_t raw = (uintptr_t)(c + 1);
    c->base = (unsigned char *)((raw + MC_ALIGN - 1) & ~(uintptr_t)(MC_ALIGN - 1));
    return c;
}

static mc_arena *arena_new(void) {
    mc_arena *a = calloc(1, sizeof(mc_arena));
    if (!a) return NULL;
    a->chunks = chunk_new(MC_FIRST_CHUNK);
    if (!a->chunks) { free(a); return NULL; }
    a->allocator.alloc = arena_alloc_cb;
    a->allocator.free = arena_free_cb;
    a->allocator.allocator_data = a;
    return a;
}

static void arena_reset(mc_arena *a) {
    /* keep only the first (oldest) chunk */
    mc_chunk *c = a->chunks;
    while (c->next) {
        mc_chunk *next = c->next;
        free(c);
        c = next;
    }
    c->used = 0;
    a->chunks = c;
}

static void arena_free(mc_arena *a) {
    arena_reset(a);
    free(a->chunks);
    free(a);
}

mc_arena *mc_arena_acquire(void) {
    if (!thread_arena_busy) {
        if (!thread_arena) thread_arena = arena_new();
        if (thread_arena) {
            thread_arena_busy = 1;
            thread_arena->cached = 1;
            return thread_arena;
        }
    }
    mc_arena *a = arena_new();
    if (a) a->cached = 0;
    return a;
}

void mc_arena_release(mc_arena *a) {
    if (!a) return;
    if (a->cached && a == thread_arena) {
        arena_reset(a);
        thread_arena_busy = 0;
    } else {
        arena_free(a);
    }
}

void *mc_arena_alloc(mc_arena *a, size_t size) {
    size_t need = MC_HEADER + ((size + MC_ALIGN - 1) & ~(size_t)(MC_ALIGN - 1));
    if (need < size) return NULL; /* overflow */
    mc_chunk *c = a->chunks;
    if (c->size - c->used < need) {
        size_t grow = c->size * 2;
        if (grow < need) grow = need;
        mc_chunk *n = chunk_new(grow);
        if (!n) return NULL;
        n->next = c;
        a->chunks = n;
        c = n;
    }
    unsigned char *p = c->base + c->used;
    c->used += need;
    memset(p, 0, need);
    *(size_t *)p = size;
    return p + MC_HEADER;
}

ProtobufCAllocator *mc_arena_allocator(mc_arena *a) { return &a->allocator; }

static int arena_owns(const mc_arena *a, const char *p) {
    for (const mc_chunk *c = a->chunks; c; c = c->next) {
        if ((const unsigned char *)p >= c->base + MC_HEADER && (const unsigned char *)p < c->base + c->used) return 1;
    }
    return 0;
}

long mc_arena_string_length(const mc_arena *a, const char *s) {
    size_t len = strlen(s);
    if (arena_owns(a, s)) {
        size_t allocated = *(const size_t *)(s - MC_HEADER);
        if (allocated != len + 1) return -1;
    }
    return (long)len;
}
