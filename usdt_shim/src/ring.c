/* The shared-memory ring: call/return records without a trap per call.
 *
 * A memfd holds a struct scope_ring header page and `capacity` 32-byte
 * struct scope_event records. Records are written by the thread holding the
 * GIL (so one producer at a time) and published with a release store of
 * head; the collector maps /proc/PID/fd/N, reads up to head and publishes tail.
 * When the ring is full the record is counted in `dropped`, never blocked on.
 */
#define _GNU_SOURCE
#include <Python.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include "emit.h"
#include "shim.h"

struct scope_ring *shim_ring = NULL;
static int ring_fd = -1;
static uint64_t ring_mask = 0;
static struct scope_event *ring_records = NULL;
static uint32_t ring_pid = 0;
static uint64_t loss_pending = 0;   /* records were dropped: a loss marker is owed (GIL-held) */

/* Capture resumes after a --max-overhead gap: frames open at the pause may have
 * returned unseen, so the next record is preceded by a loss marker (the
 * collector then never nests new calls under them). */
void shim_ring_mark_gap(void)
{
    loss_pending = 1;
}
/* initial-exec: no __tls_get_addr call per record (the shim is dlopen()ed) */
static __thread uint32_t cached_tid __attribute__((tls_model("initial-exec"))) = 0;

static void forget_tid(void) { cached_tid = 0; }

/* How long a program waits for the collector to map its ring: a forked child
 * before it runs, any program before it exits. Bounded, so a stuck collector
 * delays a target by at most this, never holds it. */
#define RING_FORK_WAIT_MS 1000
#define RING_EXIT_WAIT_MS 2000

/* Wait, at most `ms`, until the collector has mapped the ring; not at all once
 * no collector asks for it (the ring's probe detached: its semaphore is 0). */
static void ring_wait_taken(int ms)
{
    struct timespec pause = {0, 100000};
    for (int i = 0; i < ms * 10 && shim_ring && SHIM_ON(ring)
                    && !__atomic_load_n(&shim_ring->configured, __ATOMIC_ACQUIRE); i++)
        nanosleep(&pause, NULL);
}

/* In a forked child (pthread_atfork, before any Python runs): the parent's
 * ring pages are shared and must not be written. The probes inherited from
 * the parent fire once here; the kernel removes them from this process unless
 * a collector follows it (scope --follow holds the child until its probes are
 * attached). If it does, the child gets its own ring at once, so no call of
 * the child is missed, and its code names are sent again under its pid. */
static void ring_after_fork(void)
{
    struct scope_ring *parent = shim_ring;
    cached_tid = 0;
    shim_ring = NULL;
    ring_records = NULL;
    if (!parent)
        return;
    uint64_t capacity = parent->capacity;
    munmap(parent, SCOPE_RING_HEADER + capacity * sizeof(struct scope_event));
    close(ring_fd);
    ring_fd = -1;
    emit_ring(-1, 0);
    emit_tracing(SCOPE_TRACING_FORKED, 0);
    if (SHIM_ON(ring) && shim_ring_open(capacity) >= 0) {
        shim_generation++;
        emit_ring(ring_fd, (long)shim_ring_size());
        /* a short-lived child (multiprocessing ends them with os._exit) could be
         * gone before the collector maps its ring: wait until it has, briefly */
        ring_wait_taken(RING_FORK_WAIT_MS);
    }
}

/* At exit: a program that ends before the collector has mapped its ring takes
 * its ring (and every call in it) with it — a short program started while the
 * collector is busy (seen under a slow guest: a subprocess's 777 calls lost).
 * Once mapped, the collector's mapping keeps the records after the exit, so
 * only the mapping is waited for, never the reading. os._exit skips this; a
 * forked child has already waited at its fork. */
static void ring_at_exit(void)
{
    ring_wait_taken(RING_EXIT_WAIT_MS);
}

int shim_ring_open(uint64_t capacity)
{
    if (shim_ring)
        return ring_fd;
    static int atfork = 0;
    if (!atfork) {
        pthread_atfork(NULL, NULL, ring_after_fork);
        atexit(ring_at_exit);
        atfork = 1;
    }
    int fd = (int)syscall(SYS_memfd_create, "scope-ring", 1 /* MFD_CLOEXEC */ | 2 /* MFD_ALLOW_SEALING */);
    if (fd < 0)
        return -1;
    size_t size = SCOPE_RING_HEADER + capacity * sizeof(struct scope_event);
    /* sealed at its size: nobody (the program included) can shrink it under the
     * collector's mapping, which would fault the collector (SIGBUS); the
     * collector refuses a ring without these seals */
    if (ftruncate(fd, (off_t)size) < 0
            || fcntl(fd, 1033 /* F_ADD_SEALS */, 0x0002 | 0x0004 | 0x0001 /* SHRINK | GROW | SEAL */) < 0) {
        close(fd);
        return -1;
    }
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        close(fd);
        return -1;
    }
    struct scope_ring *r = base;
    r->magic = SCOPE_RING_MAGIC;
    r->version = 1;
    r->record_size = sizeof(struct scope_event);
    r->capacity = capacity;
    r->pid = (uint64_t)getpid();
    ring_pid = (uint32_t)getpid();
    ring_mask = capacity - 1;
    loss_pending = 0;
    ring_records = (struct scope_event *)((char *)base + SCOPE_RING_HEADER);
    ring_fd = fd;
    shim_ring = r;
    (void)forget_tid;
    return fd;
}

uint64_t shim_ring_size(void)
{
    return shim_ring ? SCOPE_RING_HEADER + shim_ring->capacity * sizeof(struct scope_event) : 0;
}

uint64_t shim_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);   /* the clock of bpf_ktime_get_ns */
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

void shim_ring_write(uint16_t kind, uint16_t flags, uint32_t code, int32_t line, int32_t arg)
{
    shim_ring_write_at(shim_now(), kind, flags, code, line, arg);
}

void shim_ring_write_at(uint64_t ts, uint16_t kind, uint16_t flags, uint32_t code, int32_t line,
                        int32_t arg)
{
    struct scope_ring *r = shim_ring;
    uint64_t head = r->head;
    uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    /* after drops, a loss marker goes first: it tells the collector exactly
     * where records are missing, so it never nests across the hole */
    if (head - tail + loss_pending > ring_mask) {
        __atomic_fetch_add(&r->dropped, 1, __ATOMIC_RELAXED);
        loss_pending = 1;
        return;
    }
    if (!cached_tid)
        cached_tid = (uint32_t)syscall(SYS_gettid);
    struct scope_event *e;
    if (loss_pending) {
        e = &ring_records[head & ring_mask];
        memset(e, 0, sizeof(*e));
        e->ts = ts;
        e->pid = ring_pid;
        e->tid = cached_tid;
        e->kind = SCOPE_K_LOSS;
        head++;
        loss_pending = 0;
    }
    e = &ring_records[head & ring_mask];
    e->ts = ts;
    e->pid = ring_pid;
    e->tid = cached_tid;
    e->code = code;
    e->line = line;
    e->kind = kind;
    e->flags = flags;
    e->arg = arg;
    __atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
}

/* ---- --min-duration at the source: a per-thread shadow stack of entries not
 * yet written. A call is written when it returns having lasted at least
 * min_ns; first the pending entries of its ancestors, with their own times. */
#define SHADOW_MAX 4096

struct pending {
    uint64_t ts;
    uint32_t code, gen;
    int32_t line;
    uint16_t flags;
    uint16_t written;
};

struct shadow {
    size_t depth;
    uint64_t epoch;     /* entries from before a capture gap are dropped */
    struct pending frames[SHADOW_MAX];
};

static __thread struct shadow *shadow __attribute__((tls_model("initial-exec"))) = NULL;
uint64_t shim_shadow_epoch = 0;

static void shadow_check_epoch(void)
{
    uint64_t now = __atomic_load_n(&shim_shadow_epoch, __ATOMIC_ACQUIRE);
    if (shadow && shadow->epoch != now) {
        shadow->depth = 0;
        shadow->epoch = now;
    }
}

uint64_t shim_min_ns(void)
{
    return shim_ring ? __atomic_load_n(&shim_ring->min_ns, __ATOMIC_RELAXED) : 0;
}

void shim_filtered_call(uint16_t flags, uint32_t code, int32_t line, int32_t gen)
{
    shadow_check_epoch();
    if (!shadow) {
        if (!(shadow = calloc(1, sizeof(struct shadow)))) {
            shim_ring_write(SCOPE_K_CALL, flags, code, line, gen);   /* no memory: write it all */
            return;
        }
        shadow->epoch = __atomic_load_n(&shim_shadow_epoch, __ATOMIC_ACQUIRE);
    }
    if (shadow->depth >= SHADOW_MAX) {     /* too deep to hold back: write through */
        shim_ring_write(SCOPE_K_CALL, flags, code, line, gen);
        shadow->depth++;
        return;
    }
    struct pending *p = &shadow->frames[shadow->depth++];
    p->ts = shim_now();
    p->code = code;
    p->gen = (uint32_t)gen;
    p->line = line;
    p->flags = flags;
    p->written = 0;
}

void shim_filtered_return(uint16_t flags, uint32_t code, int32_t line, int32_t gen, uint64_t min_ns)
{
    shadow_check_epoch();
    if (!shadow || shadow->depth == 0) {   /* entered before the filter: nothing held back */
        shim_ring_write(SCOPE_K_RETURN, flags, code, line, gen);
        return;
    }
    size_t top = --shadow->depth;
    if (top >= SHADOW_MAX) {
        shim_ring_write(SCOPE_K_RETURN, flags, code, line, gen);
        return;
    }
    struct pending *p = &shadow->frames[top];
    uint64_t now = shim_now();
    if (!p->written && now - p->ts < min_ns)
        return;                            /* short: neither end is written */
    for (size_t i = 0; i <= top; i++) {
        struct pending *a = &shadow->frames[i];
        if (!a->written) {
            shim_ring_write_at(a->ts, SCOPE_K_CALL, a->flags, a->code, a->line, (int32_t)a->gen);
            a->written = 1;
        }
    }
    shim_ring_write_at(now, SCOPE_K_RETURN, flags, code, line, gen);
}

/* The one entry point for call records: honours the collector's --min-duration. */
void shim_ring_record(uint16_t kind, uint16_t flags, uint32_t code, int32_t line, int32_t arg)
{
    uint64_t min_ns = shim_min_ns();
    if (!min_ns)
        shim_ring_write(kind, flags, code, line, arg);
    else if (kind == SCOPE_K_CALL)
        shim_filtered_call(flags, code, line, arg);
    else
        shim_filtered_return(flags, code, line, arg, min_ns);
}
