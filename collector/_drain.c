/* The drain: moves records out of the shim's shared-memory rings at memory
 * speed, on its own thread, so a ring never fills while the collector is busy
 * correlating and writing (the `perf record` model: copy raw now, process
 * behind). Python takes the records back, ring by ring and in order, as fast
 * as it can index them (collector/shmring.py, collector/shimrings.py).
 *
 *   d = Drain(max_memory, spill=None, max_spill=0, owner=(-1, -1))  # spill: a path, made when needed
 *   i = d.add(mapping, capacity, tail, tag)  # mapping: the ring's mmap (held until remove);
 *                                            # tag: in each of its spilled chunks' headers
 *   d.commit()                               # what was taken is safe elsewhere: the spill
 *                                            # ranges it came from go back to the file system
 *   d.start() / d.stop()                     # the thread; pump() does one pass in the caller
 *   raw = d.take(i, max_records)             # bytearray of records, oldest first
 *   d.ring(i) -> dict; d.stats() -> dict; d.remove(i) -> records dropped with it
 *
 * What it takes is kept in memory up to max_memory bytes, then appended to the
 * spill file (one 32-byte chunk header, then the records, delta-encoded by
 * _spill_codec.h when that is smaller) up to max_spill bytes pending; past both
 * bounds it leaves records in the ring, where the shim counts what it cannot
 * write (shim_ring_full): nothing is lost uncounted.
 * Spill ranges taken and then committed (commit(): the caller has written what it
 * took, so a collector killed later loses none of it) are given back to the file
 * system (hole punching) -- only the records, never a chunk's header, so the
 * file can be walked chunk by chunk by `scope store recover` after a kill.
 *
 * The ring's header is the target's to write: head is checked against what
 * was taken (never backwards, never past capacity); a ring that breaks that
 * rule is no longer drained, and Python refuses it once its queue is read. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "_spill_codec.h"
#include "scope_events.h"

#define RECORD ((uint64_t)sizeof(struct scope_event))
#define CHUNK_MAX (1u << 18)           /* records per queued chunk (8 MiB) */
#define SPILL_MAGIC 0x324c4c4950534353ULL  /* "SCSPILL2": a run's 4th word is count | bytes << 32 */
#define IDLE_NS 1000000L               /* a pass that found nothing: sleep 1 ms */

enum { RING_OK, RING_BACKWARDS, RING_PAST_CAPACITY };

/* a run of records, in memory (mem) or in the spill file at off */
typedef struct Chunk {
    struct Chunk *next;
    uint64_t n, used;      /* records in it, records already taken */
    char *mem;
    int64_t off;           /* of the records (after the chunk header) */
    uint64_t size;         /* a spilled run's bytes on disk: n * RECORD when raw, fewer when encoded */
    char *loaded;          /* a spilled run read back (decoded) by its first take */
} Chunk;

typedef struct {
    int live;
    Py_buffer view;        /* the mapping, exported: it cannot be closed under us */
    struct scope_ring *hdr;
    char *records;
    uint64_t capacity, mask, tag;   /* tag: the spill's name for this ring */
    uint64_t tail;         /* ours: what was moved out (the header's copy is the target's too) */
    int state;             /* RING_*: a broken ring is no longer drained */
    uint64_t bad_head;
    Chunk *first, *last;
    uint64_t queued;       /* records moved out, not yet taken */
    uint64_t spilled_runs; /* of its queued chunks, those in the spill: while any is, new
                              records go there too, so what sits in memory always comes
                              before what sits in the spill (a kill loses a prefix, counted) */
    uint64_t held;         /* times the bounds left records in the ring */
} Ring;

typedef struct {
    PyObject_HEAD
    pthread_mutex_t lock;  /* everything below; the copy out of a ring runs under it too */
    pthread_t thread;
    int running, stopping;
    Ring *rings;
    Py_ssize_t nrings;
    uint64_t mem, mem_max, mem_peak;
    char *spill_path;      /* created on the first spill (0600, given to owner_uid/gid) */
    int owner_uid, owner_gid;
    int spill_fd;
    int64_t spill_end;
    uint64_t spill, spill_max, spill_peak, spilled;
    uint64_t unreadable;   /* spilled records that could not be read back (counted as lost) */
    uint8_t *scratch;      /* a run encoded for the spill (CHUNK_MAX * RECORD bytes, made on first use) */
    int64_t *taken_ranges; /* (offset, bytes, bytes counted in spill) of spilled runs taken, */
    size_t ntaken, taken_cap;  /* given back at the next commit */
    char error[200];       /* the first spill failure */
} Drain;

static uint64_t load_head(Ring *r)
{
    return __atomic_load_n(&r->hdr->head, __ATOMIC_ACQUIRE);
}

/* the spill file, on first use; 0 (and the error kept) when it cannot be made */
static int open_spill(Drain *d)
{
    if (d->spill_fd >= 0)
        return 1;
    d->spill_fd = open(d->spill_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (d->spill_fd < 0 || (d->owner_uid >= 0 && fchown(d->spill_fd, d->owner_uid, d->owner_gid) < 0)) {
        snprintf(d->error, sizeof(d->error), "creating the spill %s: %s", d->spill_path, strerror(errno));
        if (d->spill_fd >= 0) {
            close(d->spill_fd);
            unlink(d->spill_path);
            d->spill_fd = -1;
        }
        return 0;
    }
    return 1;
}

/* one ring's new records to its queue, within the bounds; returns records moved */
static uint64_t drain_ring(Drain *d, Ring *r)
{
    if (!r->live || r->state != RING_OK)
        return 0;
    uint64_t head = load_head(r), moved = 0;
    if (head == r->tail)
        return 0;
    if (head < r->tail || head - r->tail > r->capacity) {
        r->state = head < r->tail ? RING_BACKWARDS : RING_PAST_CAPACITY;
        r->bad_head = head;
        return 0;
    }
    while (r->tail < head) {
        uint64_t start = r->tail & r->mask;
        uint64_t n = head - r->tail;
        if (n > r->capacity - start)
            n = r->capacity - start;       /* up to the wrap; the rest next round */
        if (n > CHUNK_MAX)
            n = CHUNK_MAX;
        uint64_t bytes = n * RECORD;
        Chunk *c = calloc(1, sizeof(Chunk));
        if (!c)
            break;
        c->n = n;
        if (!r->spilled_runs && d->mem + bytes <= d->mem_max && (c->mem = malloc(bytes))) {
            memcpy(c->mem, r->records + start * RECORD, bytes);
            d->mem += bytes;
            if (d->mem > d->mem_peak)
                d->mem_peak = d->mem;
        } else if (d->spill_path && !d->error[0] && d->spill + 32 + 2 * n <= d->spill_max) {
            /* (2 bytes: the fewest a record encodes to) */
            const char *src = r->records + start * RECORD;
            size_t size = 0;
            if (d->scratch || (d->scratch = malloc(CHUNK_MAX * RECORD)))
                size = spill_encode(src, n, d->scratch, bytes);
            if (!size)
                size = bytes;           /* written raw */
            if (d->spill + size + 32 > d->spill_max || !open_spill(d)) {
                free(c);      /* both bounds reached (or no spill): the records wait in the ring */
                r->held++;
                break;
            }
            uint64_t head_words[4] = {SPILL_MAGIC, r->tag, r->tail, n | (uint64_t)size << 32};
            struct iovec iov[2] = {{head_words, sizeof(head_words)},
                                   {size < bytes ? (void *)d->scratch : (void *)src, size}};
            ssize_t w = pwritev(d->spill_fd, iov, 2, d->spill_end);
            if (w != (ssize_t)(size + sizeof(head_words))) {
                snprintf(d->error, sizeof(d->error), "writing the spill: %s",
                         w < 0 ? strerror(errno) : "short write");
                free(c);
                r->held++;
                break;
            }
            c->off = d->spill_end + (int64_t)sizeof(head_words);
            c->size = size;
            r->spilled_runs++;
            d->spill_end += w;
            d->spill += size + sizeof(head_words);
            d->spilled += n;
            if (d->spill > d->spill_peak)
                d->spill_peak = d->spill;
        } else {
            free(c);      /* both bounds reached: the records wait in the ring */
            r->held++;
            break;
        }
        if (r->last)
            r->last->next = c;
        else
            r->first = c;
        r->last = c;
        r->queued += n;
        r->tail += n;
        moved += n;
    }
    if (moved)      /* the producer may reuse those slots now */
        __atomic_store_n(&r->hdr->tail, r->tail, __ATOMIC_RELEASE);
    return moved;
}

static uint64_t pass(Drain *d)
{
    uint64_t moved = 0;
    for (Py_ssize_t i = 0; i < d->nrings; i++)
        moved += drain_ring(d, &d->rings[i]);
    return moved;
}

static void *run(void *arg)
{
    Drain *d = arg;
    struct timespec idle = {0, IDLE_NS};
    for (;;) {
        pthread_mutex_lock(&d->lock);
        int stopping = d->stopping;
        uint64_t moved = stopping ? 0 : pass(d);
        pthread_mutex_unlock(&d->lock);
        if (stopping)
            return NULL;
        if (!moved)
            nanosleep(&idle, NULL);
    }
}

static void lock(Drain *d)
{
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&d->lock);
    Py_END_ALLOW_THREADS
}

/* ring i with the lock held; NULL (unlocked, KeyError set) when there is none */
static Ring *locked_ring(Drain *d, Py_ssize_t i)
{
    lock(d);
    if (i < 0 || i >= d->nrings || !d->rings[i].live) {
        pthread_mutex_unlock(&d->lock);
        PyErr_SetString(PyExc_KeyError, "no such ring");
        return NULL;
    }
    return &d->rings[i];
}

/* a spilled run's records back to the file system (its header stays) */
static void punch(Drain *d, int64_t off, int64_t bytes, int64_t counted)
{
    fallocate(d->spill_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)bytes);
    d->spill -= (uint64_t)counted;
}

/* free a chunk's storage; a spilled one's range is given back at the next commit
 * (until then it still counts against max_spill: the bound is the disk's) */
static void release_chunk(Drain *d, Chunk *c)
{
    uint64_t bytes = c->n * RECORD;
    if (c->mem) {
        free(c->mem);
        d->mem -= bytes;
    } else {
        if (d->ntaken == d->taken_cap) {
            size_t cap = d->taken_cap ? 2 * d->taken_cap : 64;
            int64_t *grown = realloc(d->taken_ranges, cap * 3 * sizeof(int64_t));
            if (grown) {
                d->taken_ranges = grown;
                d->taken_cap = cap;
            }
        }
        if (d->ntaken < d->taken_cap) {
            int64_t *t = d->taken_ranges + 3 * d->ntaken++;
            t[0] = c->off;
            t[1] = (int64_t)c->size;
            t[2] = (int64_t)c->size + 32;
        } else {
            punch(d, c->off, (int64_t)c->size, (int64_t)c->size + 32);   /* no memory to defer: now */
        }
        free(c->loaded);
    }
    free(c);
}

/* the ring's oldest chunk is done with (read, or unreadable): off the queue, freed */
static void pop_chunk(Drain *d, Ring *r)
{
    Chunk *c = r->first;
    r->first = c->next;
    if (!r->first)
        r->last = NULL;
    if (!c->mem)
        r->spilled_runs--;
    release_chunk(d, c);
}

static uint64_t forget(Drain *d, Ring *r)
{
    uint64_t queued = r->queued;
    for (Chunk *c = r->first, *next; c; c = next) {
        next = c->next;
        release_chunk(d, c);
    }
    r->first = r->last = NULL;
    r->queued = 0;
    r->spilled_runs = 0;
    return queued;
}

static int Drain_init(Drain *d, PyObject *args, PyObject *kw)
{
    static char *names[] = {"max_memory", "spill", "max_spill", "owner", NULL};
    unsigned long long mem_max, spill_max = 0;
    PyObject *path = Py_None;
    int uid = -1, gid = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "K|OK(ii)", names, &mem_max, &path, &spill_max, &uid, &gid))
        return -1;
    if (d->rings) {
        PyErr_SetString(PyExc_RuntimeError, "a drain is set up once");
        return -1;
    }
    d->spill_fd = -1;
    if (path != Py_None) {
        PyObject *bytes;
        if (!PyUnicode_FSConverter(path, &bytes))
            return -1;
        d->spill_path = strdup(PyBytes_AS_STRING(bytes));
        Py_DECREF(bytes);
        if (!d->spill_path)
            return (PyErr_NoMemory(), -1);
    }
    pthread_mutex_init(&d->lock, NULL);
    d->mem_max = mem_max;
    d->spill_max = d->spill_path ? spill_max : 0;
    d->owner_uid = uid;
    d->owner_gid = gid;
    d->rings = PyMem_Calloc(1, sizeof(Ring));
    return d->rings ? 0 : (PyErr_NoMemory(), -1);
}

static void stop_thread(Drain *d)
{
    if (!d->running)
        return;
    lock(d);
    d->stopping = 1;
    pthread_mutex_unlock(&d->lock);
    Py_BEGIN_ALLOW_THREADS
    pthread_join(d->thread, NULL);
    Py_END_ALLOW_THREADS
    d->running = 0;
}

static void Drain_dealloc(Drain *d)
{
    if (d->rings) {
        stop_thread(d);
        for (Py_ssize_t i = 0; i < d->nrings; i++)
            if (d->rings[i].live) {
                forget(d, &d->rings[i]);
                PyBuffer_Release(&d->rings[i].view);
            }
        PyMem_Free(d->rings);
        pthread_mutex_destroy(&d->lock);
        if (d->spill_fd >= 0)
            close(d->spill_fd);
        free(d->spill_path);
        free(d->scratch);
        free(d->taken_ranges);
    }
    Py_TYPE(d)->tp_free((PyObject *)d);
}

static PyObject *Drain_add(Drain *d, PyObject *args)
{
    PyObject *mapping;
    unsigned long long capacity, tail, tag;
    if (!PyArg_ParseTuple(args, "OKKK", &mapping, &capacity, &tail, &tag))
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(mapping, &view, PyBUF_WRITABLE) < 0)
        return NULL;
    if (!capacity || (capacity & (capacity - 1)) ||
        (uint64_t)view.len != SCOPE_RING_HEADER + capacity * RECORD) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "the mapping is not a ring of that capacity");
        return NULL;
    }
    lock(d);
    Ring *grown = PyMem_Realloc(d->rings, (d->nrings + 1) * sizeof(Ring));
    if (!grown) {
        pthread_mutex_unlock(&d->lock);
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    d->rings = grown;
    Ring *r = &d->rings[d->nrings];
    memset(r, 0, sizeof(*r));
    r->live = 1;
    r->view = view;
    r->hdr = view.buf;
    r->records = (char *)view.buf + SCOPE_RING_HEADER;
    r->capacity = capacity;
    r->mask = capacity - 1;
    r->tail = tail;
    r->tag = tag;
    Py_ssize_t i = d->nrings++;
    pthread_mutex_unlock(&d->lock);
    return PyLong_FromSsize_t(i);
}

/* a spilled run read back whole (and decoded) for the takes that follow; 0
 * (the error kept) when it cannot be */
static int load(Drain *d, Chunk *c)
{
    const char *why = NULL;
    int raw = c->size == c->n * RECORD;
    c->loaded = malloc(c->n * RECORD);
    char *buf = raw ? c->loaded : malloc(c->size);
    if (!c->loaded || !buf) {
        why = "no memory";
    } else {
        ssize_t got = pread(d->spill_fd, buf, c->size, c->off);
        if (got != (ssize_t)c->size)
            why = got < 0 ? strerror(errno) : "the file is shorter than what was written";
        else if (!raw && !spill_decode((const uint8_t *)buf, c->size, c->n, c->loaded))
            why = "a run that does not decode";
    }
    if (!raw)
        free(buf);
    if (why) {
        if (!d->error[0])
            snprintf(d->error, sizeof(d->error), "reading the spill back: %s", why);
        free(c->loaded);
        c->loaded = NULL;
        return 0;
    }
    return 1;
}

static PyObject *Drain_take(Drain *d, PyObject *args)
{
    Py_ssize_t i, most;
    if (!PyArg_ParseTuple(args, "nn", &i, &most))
        return NULL;
    Ring *r = locked_ring(d, i);
    if (!r)
        return NULL;
    uint64_t n = r->queued < (uint64_t)most ? r->queued : (uint64_t)most;
    PyObject *out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(n * RECORD));
    if (!out) {
        pthread_mutex_unlock(&d->lock);
        return NULL;
    }
    char *dst = PyByteArray_AS_STRING(out);
    uint64_t got = 0, asked = n;
    while (got < n) {
        Chunk *c = r->first;
        uint64_t k = c->n - c->used;
        if (k > n - got)
            k = n - got;
        if (c->mem) {
            memcpy(dst + got * RECORD, c->mem + c->used * RECORD, k * RECORD);
        } else {
            if (!c->loaded && !load(d, c)) {
                /* the rest of this run cannot be read: counted as lost, never retried forever */
                uint64_t rest = c->n - c->used;
                d->unreadable += rest;
                r->queued -= rest;
                n -= rest < n - got ? rest : n - got;
                pop_chunk(d, r);
                continue;
            }
            memcpy(dst + got * RECORD, c->loaded + c->used * RECORD, k * RECORD);
        }
        c->used += k;
        got += k;
        r->queued -= k;
        if (c->used == c->n)
            pop_chunk(d, r);
    }
    pthread_mutex_unlock(&d->lock);
    if (got < asked && PyByteArray_Resize(out, (Py_ssize_t)(got * RECORD)) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

static PyObject *Drain_ring(Drain *d, PyObject *args)
{
    Py_ssize_t i;
    if (!PyArg_ParseTuple(args, "n", &i))
        return NULL;
    Ring *r = locked_ring(d, i);
    if (!r)
        return NULL;
    static const char *STATES[] = {NULL, "backwards", "past its capacity"};
    PyObject *out = Py_BuildValue("{sKsKsKszsK}", "tail", (unsigned long long)r->tail,
                                  "queued", (unsigned long long)r->queued, "held", (unsigned long long)r->held,
                                  "broken", STATES[r->state], "bad_head", (unsigned long long)r->bad_head);
    pthread_mutex_unlock(&d->lock);
    return out;
}

static PyObject *Drain_remove(Drain *d, PyObject *args)
{
    Py_ssize_t i;
    if (!PyArg_ParseTuple(args, "n", &i))
        return NULL;
    Ring *r = locked_ring(d, i);
    if (!r)
        return NULL;
    uint64_t queued = forget(d, r);
    r->live = 0;
    Py_buffer view = r->view;
    pthread_mutex_unlock(&d->lock);
    PyBuffer_Release(&view);       /* after the thread can no longer touch it */
    return PyLong_FromUnsignedLongLong(queued);
}

static PyObject *Drain_pump(Drain *d, PyObject *unused)
{
    uint64_t moved;
    lock(d);
    moved = pass(d);
    pthread_mutex_unlock(&d->lock);
    return PyLong_FromUnsignedLongLong(moved);
}

static PyObject *Drain_start(Drain *d, PyObject *unused)
{
    if (!d->running) {
        d->stopping = 0;
        int err = pthread_create(&d->thread, NULL, run, d);
        if (err) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        d->running = 1;
    }
    Py_RETURN_NONE;
}

static PyObject *Drain_stop(Drain *d, PyObject *unused)
{
    stop_thread(d);
    Py_RETURN_NONE;
}

static PyObject *Drain_commit(Drain *d, PyObject *unused)
{
    lock(d);
    size_t n = d->ntaken;
    for (size_t i = 0; i < n; i++) {
        int64_t *t = d->taken_ranges + 3 * i;
        punch(d, t[0], t[1], t[2]);
    }
    d->ntaken = 0;
    pthread_mutex_unlock(&d->lock);
    return PyLong_FromSize_t(n);
}

static PyObject *Drain_close_spill(Drain *d, PyObject *unused)
{
    /* after stop(), with nothing queued: the file goes */
    lock(d);
    d->ntaken = 0;
    if (d->spill_fd >= 0) {
        close(d->spill_fd);
        d->spill_fd = -1;
        unlink(d->spill_path);
    }
    pthread_mutex_unlock(&d->lock);
    Py_RETURN_NONE;
}

static PyObject *Drain_stats(Drain *d, PyObject *unused)
{
    lock(d);
    uint64_t queued = 0;
    for (Py_ssize_t i = 0; i < d->nrings; i++)
        if (d->rings[i].live)
            queued += d->rings[i].queued;
    PyObject *out = Py_BuildValue(
        "{sKsKsKsKsKsKsKsKsKss}", "queued", (unsigned long long)queued, "memory", (unsigned long long)d->mem,
        "max_spill", (unsigned long long)d->spill_max,
        "memory_peak", (unsigned long long)d->mem_peak, "max_memory", (unsigned long long)d->mem_max,
        "spill", (unsigned long long)d->spill, "spill_peak", (unsigned long long)d->spill_peak,
        "spilled", (unsigned long long)d->spilled, "unreadable", (unsigned long long)d->unreadable,
        "error", d->error[0] ? d->error : NULL);
    pthread_mutex_unlock(&d->lock);
    return out;
}

static PyMethodDef drain_methods[] = {
    {"add", (PyCFunction)Drain_add, METH_VARARGS, "add(mapping, capacity, tail, tag) -> ring index"},
    {"commit", (PyCFunction)Drain_commit, METH_NOARGS,
     "what was taken is safe: give its spill ranges back (-> runs given back)"},
    {"take", (PyCFunction)Drain_take, METH_VARARGS, "take(ring, max_records) -> bytearray of records"},
    {"ring", (PyCFunction)Drain_ring, METH_VARARGS, "ring(i) -> {tail, queued, held, broken, bad_head}"},
    {"remove", (PyCFunction)Drain_remove, METH_VARARGS, "remove(i) -> records queued and dropped with it"},
    {"pump", (PyCFunction)Drain_pump, METH_NOARGS, "one pass over the rings in the caller's thread"},
    {"start", (PyCFunction)Drain_start, METH_NOARGS, "start the drain's thread"},
    {"stop", (PyCFunction)Drain_stop, METH_NOARGS, "stop the drain's thread (what it queued stays)"},
    {"stats", (PyCFunction)Drain_stats, METH_NOARGS, "backlog and bounds"},
    {"close_spill", (PyCFunction)Drain_close_spill, METH_NOARGS, "remove the spill file (once all is read)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject DrainType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "scope.collector._drain.Drain",
    .tp_basicsize = sizeof(Drain),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Drain_init,
    .tp_dealloc = (destructor)Drain_dealloc,
    .tp_methods = drain_methods,
    .tp_doc = "Moves records out of shim rings on its own thread (see the module's comment).",
};

static PyObject *encode(PyObject *unused, PyObject *arg)
{
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    if (in.len % RECORD) {
        PyBuffer_Release(&in);
        PyErr_SetString(PyExc_ValueError, "not whole records");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, in.len);
    size_t size = out ? spill_encode(in.buf, (uint64_t)in.len / RECORD, (uint8_t *)PyBytes_AS_STRING(out),
                                     (size_t)in.len) : 0;
    PyBuffer_Release(&in);
    if (!out)
        return NULL;
    if (!size) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    _PyBytes_Resize(&out, (Py_ssize_t)size);
    return out;
}

static PyObject *decode(PyObject *unused, PyObject *args)
{
    Py_buffer in;
    unsigned long long n;
    if (!PyArg_ParseTuple(args, "y*K", &in, &n))
        return NULL;
    PyObject *out = NULL;
    if (n > CHUNK_MAX)
        PyErr_SetString(PyExc_ValueError, "more records than a spilled run holds");
    else if ((out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(n * RECORD))) &&
             !spill_decode(in.buf, (size_t)in.len, n, PyByteArray_AS_STRING(out))) {
        Py_CLEAR(out);
        PyErr_Format(PyExc_ValueError, "%zd bytes that are not %llu encoded records", in.len, n);
    }
    PyBuffer_Release(&in);
    return out;
}

static PyMethodDef functions[] = {
    {"encode", encode, METH_O, "encode(records) -> bytes, or None when not smaller (_spill_codec.h)"},
    {"decode", decode, METH_VARARGS, "decode(data, count) -> bytearray of count records; ValueError if it is not"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_drain", NULL, -1, functions};

PyMODINIT_FUNC PyInit__drain(void)
{
    if (PyType_Ready(&DrainType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&DrainType);
    if (PyModule_AddObject(m, "Drain", (PyObject *)&DrainType) < 0) {
        Py_DECREF(&DrainType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "RECORD", (long)RECORD);
    PyModule_AddIntConstant(m, "RUN_MAX", (long)CHUNK_MAX);
    return m;
}
