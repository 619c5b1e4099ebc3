/* scope_shim public C API: emit scope's application events from a native extension.
 *
 *     #include "scope_shim.h"
 *     static const ScopeShim_CAPI *scope;          // once, with the GIL held:
 *     scope = ScopeShim_Import();                  // NULL if scope_shim is not installed
 *     if (scope && scope->listening())
 *         scope->mark("cache-miss", "{\"key\": 3}", 10);
 *
 * Every function is cheap when no collector is attached (one load and a branch).
 * Payloads are raw bytes the caller has already encoded (JSON preferred).
 */
#ifndef SCOPE_SHIM_H
#define SCOPE_SHIM_H

#include <stdint.h>

#define SCOPE_SHIM_CAPI_VERSION 1
#define SCOPE_SHIM_CAPSULE "scope_shim._shim._C_API"

typedef struct {
    int version;
    int (*listening)(void);
    void (*mark)(const char *name, const char *payload, long len);
    void (*state)(const char *name, const char *payload, long len);
    uint64_t (*span_begin)(const char *name, const char *payload, long len);   /* 0: not recorded */
    void (*span_end)(uint64_t id);
    void (*send)(const char *channel, const char *msg_id);
    void (*recv)(const char *channel, const char *msg_id);
} ScopeShim_CAPI;

#ifdef Py_PYTHON_H
static inline const ScopeShim_CAPI *ScopeShim_Import(void)
{
    const ScopeShim_CAPI *api = (const ScopeShim_CAPI *)PyCapsule_Import(SCOPE_SHIM_CAPSULE, 0);
    if (!api)
        PyErr_Clear();
    return api;
}
#endif

#endif
