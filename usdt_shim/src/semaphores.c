/* The probes' semaphores, in the ELF ".probes" section where sys/sdt.h and the
 * kernel's uprobe reference counter expect them. Raised only while a collector
 * has a probe attached. Below them, the one site of each rarer probe (emit.h
 * says why they are out of line). */
#include "emit.h"
#define SHIM_DEFINE(name) \
    __attribute__((section(".probes"), visibility("hidden"))) \
    volatile unsigned short scope_##name##_semaphore = 0

SHIM_DEFINE(call);
SHIM_DEFINE(ret);
SHIM_DEFINE(mark);
SHIM_DEFINE(span_begin);
SHIM_DEFINE(span_end);
SHIM_DEFINE(state);
SHIM_DEFINE(send);
SHIM_DEFINE(recv);
SHIM_DEFINE(tracing);
SHIM_DEFINE(code);
SHIM_DEFINE(ring);
SHIM_DEFINE(error);

/* noinline: a copy inlined into a caller would be a second site of the probe */
#define SHIM_PROBE __attribute__((noinline, visibility("hidden")))

SHIM_PROBE void shim_probe_mark(const char *name, const char *payload, long len, int flags)
{
    STAP_PROBE4(scope, mark, name, payload, len, flags);
}

SHIM_PROBE void shim_probe_span_begin(uint64_t id, uint64_t parent, const char *name, const char *payload,
                                      long len, uint64_t task)
{
    STAP_PROBE6(scope, span_begin, id, parent, name, payload, len, task);
}

SHIM_PROBE void shim_probe_span_end(uint64_t id, int flags)
{
    STAP_PROBE2(scope, span_end, id, flags);
}

SHIM_PROBE void shim_probe_state(const char *name, const char *payload, long len, int flags)
{
    STAP_PROBE4(scope, state, name, payload, len, flags);
}

SHIM_PROBE void shim_probe_send(const char *channel, const char *msg)
{
    STAP_PROBE2(scope, send, channel, msg);
}

SHIM_PROBE void shim_probe_recv(const char *channel, const char *msg)
{
    STAP_PROBE2(scope, recv, channel, msg);
}

SHIM_PROBE void shim_probe_code(uint32_t id, const char *file, const char *func, int line)
{
    long image = shim_image;
    __asm__ volatile("" : "+r"(image));     /* a register, not a %rip-relative operand */
    STAP_PROBE5(scope, code, id, file, func, line, image);
}

SHIM_PROBE void shim_probe_error(int reason, unsigned long count)
{
    STAP_PROBE2(scope, error, reason, count);
}

SHIM_PROBE void emit_ring(long fd, long size)
{
    long image = shim_image;
    __asm__ volatile("" : "+r"(fd), "+r"(size), "+r"(image));
    STAP_PROBE3(scope, ring, fd, size, image);
}

SHIM_PROBE void emit_tracing(int state, long tid)
{
    /* always fired: the collector learns when capture starts and stops. The
     * barrier keeps both arguments in registers (no %rip-relative operands). */
    __asm__ volatile("" : "+r"(state), "+r"(tid));
    STAP_PROBE2(scope, tracing, state, tid);
}
