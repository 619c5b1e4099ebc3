/* The call-tracing switch: complete call/return capture while a collector is attached.
 *
 * CPython <= 3.11: a C-level profile function on every thread. It fires the
 * shim's own call/ret probes (with generator yield/resume and exception flags,
 * which the interpreter's markers do not carry), on every build, markers or not.
 * CPython >= 3.12: sys.monitoring callbacks (set up by scope_shim/_switch.py)
 * that fire the same probes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <opcode.h>
#include "emit.h"
#include "shim.h"

#define GEN_FLAGS (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR)

#define utf8 shim_utf8

/* async def and async generators: the frames asyncio tasks are made of */
#define CORO_FLAGS (CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR)

static uint32_t gen_id(PyObject *gen)
{
    return (uint32_t)((uintptr_t)gen >> 4);
}

/* ---- ids for ring records: kept in the code object (co_extra), so a freed
 * code object's address can never pass its id to another; each collector
 * session (generation) hears every name once through the scope:code probe. */
#if PY_VERSION_HEX >= 0x030C0000
#define CODE_GET_EXTRA PyUnstable_Code_GetExtra
#define CODE_SET_EXTRA PyUnstable_Code_SetExtra
#define REQUEST_EXTRA PyUnstable_Eval_RequestCodeExtraIndex
#else
#define CODE_GET_EXTRA _PyCode_GetExtra
#define CODE_SET_EXTRA _PyCode_SetExtra
#define REQUEST_EXTRA _PyEval_RequestCodeExtraIndex
#endif

#include <fnmatch.h>

static Py_ssize_t extra_index = -2;

/* The collector's --function/--exclude globs (ring header): is this name filtered out? */
static int filtered_out(const char *name)
{
    if (!shim_ring || !shim_ring->filters[0])
        return 0;
    const char *p = shim_ring->filters, *end = p + SCOPE_FILTERS_MAX;
    int have_include = 0, included = 0;
    while (p < end && *p) {
        size_t n = strnlen(p, (size_t)(end - p));
        if (p + n >= end)
            break;                       /* unterminated: ignore the rest */
        int match = fnmatch(p + 1, name, 0) == 0;
        if (*p == '-' && match)
            return 1;
        if (*p == '+') {
            have_include = 1;
            included |= match;
        }
        p += n + 1;
    }
    return have_include && !included;
}
static uint32_t next_id = SCOPE_SHIM_ID_BASE;
uint32_t shim_generation = 1;

/* co_extra holds generation << 33 | skip << 32 | id: the id for good, the
 * rest per recording (names announced once, filters decided once). Returns 0
 * for a code object the collector's filters drop. */
static uint32_t code_ring_id(PyCodeObject *code)
{
    if (extra_index == -2)
        extra_index = REQUEST_EXTRA(NULL);
    void *extra = NULL;
    uint32_t id;
    if (extra_index >= 0 && CODE_GET_EXTRA((PyObject *)code, extra_index, &extra) == 0 && extra) {
        uintptr_t v = (uintptr_t)extra;
        if ((uint32_t)(v >> 33) == shim_generation)
            return (v >> 32) & 1 ? 0 : (uint32_t)v;
        id = (uint32_t)v;
    } else {
        if (PyErr_Occurred())
            PyErr_Clear();
        id = ++next_id;
    }
    const char *name = utf8(code->co_name);
    uintptr_t skip = filtered_out(name) ? 1 : 0;
    if (!skip)
        /* the qualified name (Event.__init__, f.<locals>.g): the collector takes
         * the bare name from its last part, and tells same-named functions apart */
        emit_code(id, utf8(code->co_filename), utf8(code->co_qualname), code->co_firstlineno);
    if (extra_index >= 0 &&
            CODE_SET_EXTRA((PyObject *)code, extra_index,
                           (void *)(((uintptr_t)shim_generation << 33) | (skip << 32) | id)) < 0) {
        PyErr_Clear();
        shim_error(SCOPE_SHIM_E_CODE_CACHE);
    }
    return skip ? 0 : id;
}

/* exception type names, by address of tp_name (static strings) */
static struct { const char *name; uint32_t id; uint32_t gen; } exc_ids[64];

static uint32_t exc_ring_id(const char *name)
{
    if (!name)
        return 0;
    unsigned slot = (unsigned)(((uintptr_t)name >> 4) & 63);
    if (exc_ids[slot].name == name && exc_ids[slot].gen == shim_generation)
        return exc_ids[slot].id;
    uint32_t id = exc_ids[slot].name == name ? exc_ids[slot].id : ++next_id;
    emit_code(id, "", name, 0);
    exc_ids[slot].name = name;
    exc_ids[slot].id = id;
    exc_ids[slot].gen = shim_generation;
    return id;
}

#if PY_VERSION_HEX < 0x030C0000

/* First start of a generator frame: the instruction at lasti is RESUME 0. A
 * resume (or a throw()/close()) is anything else. */
static int first_start(PyFrameObject *frame, PyCodeObject *code)
{
    int lasti = PyFrame_GetLasti(frame);
    if (lasti < 0)
        return 1;
    PyObject *bytes = PyCode_GetCode(code);   /* cached by the code object */
    if (!bytes) {
        PyErr_Clear();
        return 1;
    }
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(bytes);
    int first = lasti + 1 < PyBytes_GET_SIZE(bytes) && b[lasti] == RESUME && b[lasti + 1] == 0;
    Py_DECREF(bytes);
    return first;
}

static int profiler(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    if (what != PyTrace_CALL && what != PyTrace_RETURN)
        return 0;
    int ring = SHIM_RING_ON();
    if (!ring && !SHIM_ON(call) && !SHIM_ON(ret))
        return 0;
    PyCodeObject *code = PyFrame_GetCode(frame);
    int flags = 0;
    uint32_t gen = 0;
    if (code->co_flags & GEN_FLAGS) {
        PyObject *g = PyFrame_GetGenerator(frame);
        if (g) {
            gen = gen_id(g);
            /* -1 is FRAME_SUSPENDED: set before the profile hook on a yield */
            if (what == PyTrace_RETURN && ((PyGenObject *)g)->gi_frame_state == -1)
                flags |= SHIM_F_YIELD;
            Py_DECREF(g);
        }
        if (what == PyTrace_CALL && !first_start(frame, code))
            flags |= SHIM_F_RESUME;
        if (code->co_flags & CORO_FLAGS)
            flags |= SHIM_F_CORO;
    }
    /* arg is NULL when the frame exits by an exception; 3.11 has already
     * stashed the exception away, so its type is not known here */
    if (what == PyTrace_RETURN && arg == NULL)
        flags |= SHIM_F_RAISED;
    if (ring) {
        uint32_t id = code_ring_id(code);   /* 0: filtered out by --function/--exclude */
        if (id && what == PyTrace_CALL)
            shim_ring_record(SCOPE_K_CALL, (uint16_t)flags, id, code->co_firstlineno, (int32_t)gen);
        else if (id)
            shim_ring_record(SCOPE_K_RETURN, (uint16_t)flags, id, 0, (int32_t)gen);
        Py_DECREF(code);
        return 0;
    }
    const char *file = utf8(code->co_filename), *name = utf8(code->co_qualname);
    if (what == PyTrace_CALL)
        emit_call(file, name, code->co_firstlineno, flags, gen);
    else
        emit_ret(file, name, 0, flags, gen, NULL);
    Py_DECREF(code);
    return 0;
}

static int installing = 0;       /* the shim itself is calling _PyEval_SetProfile */
static int takeover_reported = 0;

/* threading's _bootstrap_inner applying threading.setprofile()'s hook to a new
 * thread — ours (shim_thread_hook), set when capture went on. The event has no
 * arguments to tell whose function it is, so a foreign one set this way is
 * left to the switch's periodic check (shim_foreign_profiler). */
static int in_thread_bootstrap(void)
{
    PyFrameObject *frame = PyEval_GetFrame();      /* borrowed */
    if (frame == NULL)
        return 0;
    PyCodeObject *code = PyFrame_GetCode(frame);   /* new reference */
    const char *name = PyUnicode_AsUTF8(code->co_name);
    int ours = name != NULL && strcmp(name, "_bootstrap_inner") == 0;
    Py_DECREF(code);
    if (name == NULL)
        PyErr_Clear();
    return ours;
}

/* sys.setprofile audit events: another profiler replacing ours on this thread
 * (cProfile, a sampling tool...). It wins; we say so at once. */
static int audit_hook(const char *event, PyObject *args, void *data)
{
    if (installing || strcmp(event, "sys.setprofile") != 0)
        return 0;
    PyThreadState *ts = PyThreadState_Get();
    if (ts->c_profilefunc == profiler && !takeover_reported && !in_thread_bootstrap()) {
        takeover_reported = 1;
        emit_tracing(SCOPE_TRACING_REFUSED, shim_switch_native);
    }
    return 0;
}

int shim_install_audit_hook(void)
{
    return PySys_AddAuditHook(audit_hook, NULL);
}

/* Our own threading.setprofile() hook (shim_thread_hook, below), still in place
 * on a thread that has just started and not yet made its first call: not foreign. */
static int is_own_thread_hook(PyObject *obj)
{
    return obj != NULL && PyCFunction_Check(obj)
        && (void *)PyCFunction_GET_FUNCTION(obj) == (void *)shim_thread_hook;
}

int shim_foreign_profiler(void)
{
    PyInterpreterState *interp = PyThreadState_GetInterpreter(PyThreadState_Get());
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        if (ts->c_profilefunc != NULL && ts->c_profilefunc != profiler && !is_own_thread_hook(ts->c_profileobj))
            return 1;
    return 0;
}

/* Install (on) or remove (off) the profile function on every thread; returns
 * the number of threads changed, or -1 when another profiler is active. */
int shim_set_profile_all(int on)
{
    if (on && shim_foreign_profiler())
        return -1;
    if (!on)
        takeover_reported = 0;
    installing = 1;
    PyInterpreterState *interp = PyThreadState_GetInterpreter(PyThreadState_Get());
    int changed = 0;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts)) {
        if (shim_switch_thread && ts->thread_id == shim_switch_thread)
            continue;   /* the switch's own thread stays untraced */
        if (on && ts->c_profilefunc == NULL) {
            if (_PyEval_SetProfile(ts, profiler, NULL) < 0) { PyErr_Clear(); shim_error(SCOPE_SHIM_E_PROFILE); continue; }
            changed++;
        } else if (!on && ts->c_profilefunc == profiler) {
            if (_PyEval_SetProfile(ts, NULL, NULL) < 0) { PyErr_Clear(); shim_error(SCOPE_SHIM_E_PROFILE); continue; }
            changed++;
        }
    }
    installing = 0;
    return changed;
}

void shim_untrace_current(void)
{
    PyThreadState *ts = PyThreadState_Get();
    installing = 1;
    if (ts->c_profilefunc == profiler && _PyEval_SetProfile(ts, NULL, NULL) < 0) {
        PyErr_Clear();
        shim_error(SCOPE_SHIM_E_PROFILE);
    }
    installing = 0;
}

/* threading.setprofile() hook: the first event of a new thread lands here as a
 * Python-level profile call; switch that thread to the C profile function and
 * report the call it was telling us about. */
PyObject *shim_thread_hook(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs == 3 && PyFrame_Check(args[0])) {
        installing = 1;
        if (PyEval_SetProfile(profiler, NULL), PyErr_Occurred()) {
            PyErr_Clear();
            shim_error(SCOPE_SHIM_E_PROFILE);
        }
        installing = 0;
        const char *event = PyUnicode_Check(args[1]) ? utf8(args[1]) : "";
        if (strcmp(event, "call") == 0)
            profiler(NULL, (PyFrameObject *)args[0], PyTrace_CALL, Py_None);
    }
    Py_RETURN_NONE;
}

#else   /* >= 3.12: sys.monitoring callbacks */

int shim_foreign_profiler(void) { return 0; }
int shim_set_profile_all(int on) { return 0; }
int shim_install_audit_hook(void) { return 0; }
void shim_untrace_current(void) {}
PyObject *shim_thread_hook(PyObject *self, PyObject *const *args, Py_ssize_t nargs) { Py_RETURN_NONE; }

static uint32_t current_gen(PyCodeObject *code)
{
    if (!(code->co_flags & GEN_FLAGS))
        return 0;
    PyFrameObject *frame = PyEval_GetFrame();   /* borrowed */
    if (!frame)
        return 0;
    PyObject *g = PyFrame_GetGenerator(frame);
    uint32_t id = g ? gen_id(g) : 0;
    Py_XDECREF(g);
    return id;
}

static PyObject *monitor(PyObject *const *args, Py_ssize_t nargs, int is_call, int flags)
{
    if (nargs < 1 || !PyCode_Check(args[0]))
        Py_RETURN_NONE;
    int ring = SHIM_RING_ON();
    if (!ring && !SHIM_ON(call) && !SHIM_ON(ret))
        Py_RETURN_NONE;
    PyCodeObject *code = (PyCodeObject *)args[0];
    uint32_t gen = current_gen(code);
    if (gen && (code->co_flags & CORO_FLAGS))
        flags |= SHIM_F_CORO;
    if (ring) {
        uint32_t id = code_ring_id(code);
        if (!id)
            Py_RETURN_NONE;               /* filtered out by --function/--exclude */
        if (is_call) {
            shim_ring_record(SCOPE_K_CALL, (uint16_t)flags, id, code->co_firstlineno, (int32_t)gen);
        } else {
            uint32_t exc = (flags & SHIM_F_RAISED) && nargs >= 3 ? exc_ring_id(Py_TYPE(args[2])->tp_name) : 0;
            shim_ring_record(SCOPE_K_RETURN, (uint16_t)flags, id, (int32_t)exc, (int32_t)gen);
        }
        Py_RETURN_NONE;
    }
    const char *file = utf8(code->co_filename), *name = utf8(code->co_qualname);
    if (is_call) {
        emit_call(file, name, code->co_firstlineno, flags, gen);
    } else {
        const char *exc = NULL;
        if ((flags & SHIM_F_RAISED) && nargs >= 3)
            exc = Py_TYPE(args[2])->tp_name;
        emit_ret(file, name, 0, flags, gen, exc);
    }
    Py_RETURN_NONE;
}

PyObject *shim_on_start(PyObject *s, PyObject *const *a, Py_ssize_t n) { return monitor(a, n, 1, 0); }
PyObject *shim_on_resume(PyObject *s, PyObject *const *a, Py_ssize_t n) { return monitor(a, n, 1, SHIM_F_RESUME); }
PyObject *shim_on_throw(PyObject *s, PyObject *const *a, Py_ssize_t n) { return monitor(a, n, 1, SHIM_F_RESUME); }
PyObject *shim_on_return(PyObject *s, PyObject *const *a, Py_ssize_t n) { return monitor(a, n, 0, 0); }
PyObject *shim_on_yield(PyObject *s, PyObject *const *a, Py_ssize_t n) { return monitor(a, n, 0, SHIM_F_YIELD); }
PyObject *shim_on_unwind(PyObject *s, PyObject *const *a, Py_ssize_t n) { return monitor(a, n, 0, SHIM_F_RAISED); }

#endif
