/* The shim's emitter: one USDT probe per event kind, each with a semaphore.
 *
 * This is the one internal interface the rest of the shim writes events
 * through; a faster transport (a shared-memory ring drained by the collector)
 * replaces these bodies without touching the callers. Every probe is guarded
 * by its semaphore, so while no collector is attached an emit costs one load.
 *
 * Probe arguments (provider "scope"):
 *   call(file, func, line, flags, gen)        flags: SHIM_F_RESUME; gen: generator id
 *   ret(file, func, line, flags, gen, exc)    flags: SHIM_F_YIELD | SHIM_F_RAISED; exc: type name or NULL
 *   mark(name, payload, len, flags)
 *   span_begin(id, parent, name, payload, len, task)
 *   span_end(id, flags)
 *   state(name, payload, len, flags)          flags: SHIM_F_TRUNCATED | SHIM_F_REDACTED | SHIM_F_REPR
 *   send(channel, msg_id)   recv(channel, msg_id)
 *   code(id, file, func, line, image)         a code object's id in ring records (once per session)
 *   ring(fd, size, image)                     the shared-memory ring for call records
 *                                             image: this program's token (shim_image), telling
 *                                             the programs one process runs after exec apart
 *   error(reason, count)                      a failure the shim swallowed (SCOPE_SHIM_E_*) and
 *                                             the process's count of them so far
 *   tracing(state, tid)                       1 on, 0 off, -1 refused (another profiler is active),
 *                                             2 the switch thread started; tid: the switch thread,
 *                                             3 a forked child checking whether it is followed
 */
#ifndef SCOPE_SHIM_EMIT_H
#define SCOPE_SHIM_EMIT_H

#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdint.h>

#include "../include/scope_events.h"

/* the record's flags, as the shared header defines them (never a second copy) */
#define SHIM_F_RESUME    SCOPE_F_RESUME
#define SHIM_F_YIELD     SCOPE_F_YIELD
#define SHIM_F_RAISED    SCOPE_F_RAISED
#define SHIM_F_CORO      SCOPE_F_CORO
#define SHIM_F_TRUNCATED SCOPE_F_TRUNCATED
#define SHIM_F_REDACTED  SCOPE_F_REDACTED
#define SHIM_F_REPR      SCOPE_F_REPR

#define SHIM_SEMAPHORE(name) \
    extern volatile unsigned short scope_##name##_semaphore

SHIM_SEMAPHORE(call);
SHIM_SEMAPHORE(ret);
SHIM_SEMAPHORE(mark);
SHIM_SEMAPHORE(span_begin);
SHIM_SEMAPHORE(span_end);
SHIM_SEMAPHORE(state);
SHIM_SEMAPHORE(send);
SHIM_SEMAPHORE(recv);
SHIM_SEMAPHORE(tracing);
SHIM_SEMAPHORE(code);
SHIM_SEMAPHORE(ring);
SHIM_SEMAPHORE(error);

/* ring.c */
extern struct scope_ring *shim_ring;
int shim_ring_open(uint64_t capacity);
uint64_t shim_ring_size(void);
void shim_ring_write(uint16_t kind, uint16_t flags, uint32_t code, int32_t line, int32_t arg);
void shim_ring_write_at(uint64_t ts, uint16_t kind, uint16_t flags, uint32_t code, int32_t line,
                        int32_t arg);
uint64_t shim_now(void);
uint64_t shim_min_ns(void);
void shim_filtered_call(uint16_t flags, uint32_t code, int32_t line, int32_t gen);
void shim_filtered_return(uint16_t flags, uint32_t code, int32_t line, int32_t gen, uint64_t min_ns);
void shim_ring_record(uint16_t kind, uint16_t flags, uint32_t code, int32_t line, int32_t arg);
void shim_ring_mark_gap(void);

/* calls go to the ring while the collector reads it, else to the call/ret probes */
#define SHIM_RING_ON() (shim_ring != NULL && SHIM_ON(ring))

#define SHIM_ON(name) (__builtin_expect(scope_##name##_semaphore != 0, 0))

static inline void emit_call(const char *file, const char *func, int line, int flags, uint32_t gen)
{
    if (SHIM_ON(call))
        STAP_PROBE5(scope, call, file, func, line, flags, gen);
}

static inline void emit_ret(const char *file, const char *func, int line, int flags, uint32_t gen,
                            const char *exc)
{
    if (SHIM_ON(ret))
        STAP_PROBE6(scope, ret, file, func, line, flags, gen, exc);
}

/* The rarer probes live out of line in semaphores.c, so each has exactly one
 * site in the shim: on kernels without uprobe_multi every site is a perf event
 * per process, and closing one waits for an RCU grace period (~0.1 s here),
 * one after another. The semaphore test stays inline: one load when off. */
void shim_probe_mark(const char *name, const char *payload, long len, int flags);
void shim_probe_span_begin(uint64_t id, uint64_t parent, const char *name, const char *payload, long len,
                           uint64_t task);
void shim_probe_span_end(uint64_t id, int flags);
void shim_probe_state(const char *name, const char *payload, long len, int flags);
void shim_probe_send(const char *channel, const char *msg);
void shim_probe_recv(const char *channel, const char *msg);
void shim_probe_code(uint32_t id, const char *file, const char *func, int line);
void shim_probe_error(int reason, unsigned long count);
void emit_ring(long fd, long size);
void emit_tracing(int state, long tid);

static inline void emit_mark(const char *name, const char *payload, long len, int flags)
{
    if (SHIM_ON(mark))
        shim_probe_mark(name, payload, len, flags);
}

static inline void emit_span_begin(uint64_t id, uint64_t parent, const char *name,
                                   const char *payload, long len, uint64_t task)
{
    if (SHIM_ON(span_begin))
        shim_probe_span_begin(id, parent, name, payload, len, task);
}

static inline void emit_span_end(uint64_t id, int flags)
{
    if (SHIM_ON(span_end))
        shim_probe_span_end(id, flags);
}

static inline void emit_state(const char *name, const char *payload, long len, int flags)
{
    if (SHIM_ON(state))
        shim_probe_state(name, payload, len, flags);
}

static inline void emit_send(const char *channel, const char *msg)
{
    if (SHIM_ON(send))
        shim_probe_send(channel, msg);
}

static inline void emit_recv(const char *channel, const char *msg)
{
    if (SHIM_ON(recv))
        shim_probe_recv(channel, msg);
}

extern uint32_t shim_image;   /* module.c: drawn once per program (exec starts a new one) */

static inline void emit_code(uint32_t id, const char *file, const char *func, int line)
{
    if (SHIM_ON(code))
        shim_probe_code(id, file, func, line);
}

/* Count a failure the shim swallowed, and tell the collector if one listens. */
static inline void shim_error(int reason)
{
    extern unsigned long shim_errors;
    unsigned long count = __atomic_add_fetch(&shim_errors, 1, __ATOMIC_RELAXED);
    if (SHIM_ON(error))
        shim_probe_error(reason, count);
}

#endif
