/* The probes' semaphores, in the ELF ".probes" section where sys/sdt.h and the
 * kernel's uprobe reference counter expect them. Raised only while a collector
 * has a probe attached. */
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
