/* scope_shim._shim: application events (mark, span, state, send/recv) and the
 * entry points of the call-tracing switch.
 *
 * Every event function checks its probe's semaphore first and returns at once
 * when no collector is attached: no argument is converted, nothing allocated.
 * Payloads are encoded (JSON, redaction, size cap) by the Python encoder
 * registered with _set_encoder, only while someone listens.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sys/random.h>
#include <unistd.h>
#include "emit.h"
#include "shim.h"
#include "../include/scope_shim.h"

unsigned long shim_errors = 0;
uint32_t shim_image = 0;
unsigned long shim_switch_thread = 0;
long shim_switch_native = 0;
static PyObject *encoder = NULL;        /* callable(obj) -> (bytes, flags) */
static uint64_t next_span = 0;

/* The UTF-8 text of a str, for a probe argument (the GIL held). A str UTF-8
 * cannot hold (lone surrogates: a non-UTF-8 file name that Python decoded with
 * surrogateescape) goes out with backslash escapes, and is counted. Such a
 * text stays valid until the fourth one after it: callers hand it to a probe
 * at once. */
const char *shim_utf8(PyObject *s)
{
    static PyObject *kept[4];
    static unsigned next_kept = 0;
    const char *text = PyUnicode_AsUTF8(s);
    if (text)
        return text;
    PyErr_Clear();   /* never raise into the application */
    shim_error(SCOPE_SHIM_E_NAME);
    PyObject *escaped = PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");
    if (!escaped) {
        PyErr_Clear();
        return "?";
    }
    Py_XSETREF(kept[next_kept++ % 4], escaped);
    return PyBytes_AS_STRING(escaped);
}

static const char *name_of(PyObject *name, const char *what)
{
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str, not %.100s", what, Py_TYPE(name)->tp_name);
        return NULL;
    }
    return shim_utf8(name);
}

/* Encode a payload; on any failure count it and send an empty payload. */
static PyObject *encode(PyObject *value, const char **buf, Py_ssize_t *len, int *flags)
{
    *buf = "";
    *len = 0;
    *flags = 0;
    if (!encoder || value == NULL)
        return NULL;
    PyObject *res = PyObject_CallOneArg(encoder, value);
    if (!res || !PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 2
            || !PyBytes_Check(PyTuple_GET_ITEM(res, 0))) {
        PyErr_Clear();
        Py_XDECREF(res);
        shim_error(SCOPE_SHIM_E_PAYLOAD);
        return NULL;
    }
    *buf = PyBytes_AS_STRING(PyTuple_GET_ITEM(res, 0));
    *len = PyBytes_GET_SIZE(PyTuple_GET_ITEM(res, 0));
    *flags = (int)PyLong_AsLong(PyTuple_GET_ITEM(res, 1));
    if (PyErr_Occurred()) {
        PyErr_Clear();
        *flags = 0;
    }
    return res;   /* keeps buf alive */
}

static PyObject *shim_mark(PyObject *self, PyObject *args, PyObject *kwargs)
{
    PyObject *name;
    if (!PyArg_UnpackTuple(args, "mark", 1, 1, &name))
        return NULL;
    const char *n = name_of(name, "mark name");
    if (!n)
        return NULL;
    if (!SHIM_ON(mark))
        Py_RETURN_NONE;
    const char *buf; Py_ssize_t len; int flags;
    PyObject *keep = encode(kwargs && PyDict_GET_SIZE(kwargs) ? kwargs : NULL, &buf, &len, &flags);
    emit_mark(n, buf, (long)len, flags);
    Py_XDECREF(keep);
    Py_RETURN_NONE;
}

static PyObject *shim_state(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "state() takes a name and a value (%zd given)", nargs);
    const char *n = name_of(args[0], "state name");
    if (!n)
        return NULL;
    if (!SHIM_ON(state))
        Py_RETURN_NONE;
    const char *buf; Py_ssize_t len; int flags;
    PyObject *keep = encode(args[1], &buf, &len, &flags);
    emit_state(n, buf, (long)len, flags);
    Py_XDECREF(keep);
    Py_RETURN_NONE;
}

static PyObject *message(PyObject *const *args, Py_ssize_t nargs, int send)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "%s() takes a channel and a message id (%zd given)",
                            send ? "send" : "recv", nargs);
    const char *channel = name_of(args[0], "channel");
    if (!channel)
        return NULL;
    if (send ? !SHIM_ON(send) : !SHIM_ON(recv))
        Py_RETURN_NONE;
    PyObject *id = PyObject_Str(args[1]);
    if (!id) {
        PyErr_Clear();
        shim_error(SCOPE_SHIM_E_MESSAGE_ID);
        Py_RETURN_NONE;
    }
    const char *msg = name_of(id, "message id");
    if (send)
        emit_send(channel, msg);
    else
        emit_recv(channel, msg);
    Py_DECREF(id);
    Py_RETURN_NONE;
}

static PyObject *shim_send(PyObject *s, PyObject *const *a, Py_ssize_t n) { return message(a, n, 1); }
static PyObject *shim_recv(PyObject *s, PyObject *const *a, Py_ssize_t n) { return message(a, n, 0); }

/* _span_begin(name, fields, parent, task) -> span id, or 0 when nobody listens */
static PyObject *shim_span_begin(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4)
        return PyErr_Format(PyExc_TypeError, "_span_begin takes 4 arguments");
    if (!SHIM_ON(span_begin))
        return PyLong_FromLong(0);
    const char *n = name_of(args[0], "span name");
    if (!n)
        return NULL;
    uint64_t parent = PyLong_AsUnsignedLongLongMask(args[2]);
    uint64_t task = PyLong_AsUnsignedLongLongMask(args[3]);
    if (PyErr_Occurred()) { PyErr_Clear(); parent = task = 0; }
    uint64_t id = ++next_span;   /* the GIL serialises this */
    const char *buf; Py_ssize_t len; int flags;
    PyObject *keep = encode(args[1], &buf, &len, &flags);
    emit_span_begin(id, parent, n, buf, (long)len, task);
    Py_XDECREF(keep);
    return PyLong_FromUnsignedLongLong(id);
}

static PyObject *shim_span_end(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "_span_end takes 2 arguments");
    uint64_t id = PyLong_AsUnsignedLongLongMask(args[0]);
    int flags = (int)PyLong_AsLong(args[1]);
    if (PyErr_Occurred()) { PyErr_Clear(); Py_RETURN_NONE; }
    if (id)
        emit_span_end(id, flags);
    Py_RETURN_NONE;
}

static PyObject *shim_set_encoder(PyObject *self, PyObject *fn)
{
    Py_XSETREF(encoder, Py_NewRef(fn));
    Py_RETURN_NONE;
}

static PyObject *shim_listening(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(SHIM_ON(mark) || SHIM_ON(span_begin) || SHIM_ON(state)
                           || SHIM_ON(send) || SHIM_ON(recv));
}

static PyObject *shim_span_on(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(SHIM_ON(span_begin));
}

static PyObject *shim_tracing_requested(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(scope_tracing_semaphore != 0);
}

/* _set_tracing(on) for <= 3.11: install/remove the profile function on all
 * threads. Returns the state to report: 1 on, 0 off, -1 refused. */
static PyObject *shim_set_tracing(PyObject *self, PyObject *on)
{
    int want = PyObject_IsTrue(on);
    int changed = shim_set_profile_all(want);
    return PyLong_FromLong(changed < 0 ? -1 : want);
}

static PyObject *shim_report(PyObject *self, PyObject *state)
{
    emit_tracing((int)PyLong_AsLong(state), shim_switch_native);
    if (PyErr_Occurred())
        PyErr_Clear();
    Py_RETURN_NONE;
}

static PyObject *shim_set_switch_thread(PyObject *self, PyObject *unused)
{
    shim_switch_thread = PyThread_get_thread_ident();
    shim_switch_native = (long)PyThread_get_thread_native_id();
    shim_untrace_current();   /* threading's hook may have traced it already */
    emit_tracing(SCOPE_TRACING_SWITCH, shim_switch_native);
    Py_RETURN_NONE;
}

static PyObject *shim_ring_requested(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(SHIM_ON(ring));
}

/* _ring_start(capacity): open the ring once, start a new naming generation,
 * announce the ring to the collector. Returns the fd, or -1. */
static PyObject *shim_ring_start(PyObject *self, PyObject *arg)
{
    unsigned long long capacity = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred())
        return NULL;
    if (capacity == 0 || (capacity & (capacity - 1)))
        return PyErr_Format(PyExc_ValueError, "ring capacity must be a power of two");
    int fd = shim_ring_open(capacity);
    if (fd >= 0) {
        shim_generation++;
        emit_ring(fd, (long)shim_ring_size());
    }
    return PyLong_FromLong(fd);
}

/* the collector's --max-overhead schedule: is capture meant to be off now? */
static PyObject *shim_ring_paused(PyObject *self, PyObject *unused)
{
    if (!shim_ring)
        Py_RETURN_FALSE;
    uint64_t cycle = __atomic_load_n(&shim_ring->gov_cycle_ns, __ATOMIC_ACQUIRE);
    uint64_t start = __atomic_load_n(&shim_ring->gov_start_ns, __ATOMIC_ACQUIRE);
    uint64_t on = __atomic_load_n(&shim_ring->gov_on_ns, __ATOMIC_ACQUIRE);
    uint64_t now = shim_now();
    if (!cycle || now < start)
        Py_RETURN_FALSE;
    return PyBool_FromLong((now - start) % cycle >= on);
}

/* the capture gap ends (called with the GIL, before capture resumes):
 * --min-duration's held-back entries are stale, and a loss marker goes first */
static PyObject *shim_new_epoch(PyObject *self, PyObject *unused)
{
    __atomic_fetch_add(&shim_shadow_epoch, 1, __ATOMIC_RELEASE);
    shim_ring_mark_gap();
    Py_RETURN_NONE;
}

static PyObject *shim_ring_configured(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(shim_ring && __atomic_load_n(&shim_ring->configured, __ATOMIC_ACQUIRE));
}

static PyObject *shim_error_count(PyObject *self, PyObject *unused)
{
    return PyLong_FromUnsignedLong(__atomic_load_n(&shim_errors, __ATOMIC_RELAXED));
}

/* _error(reason): a failure the Python side of the shim swallowed */
static PyObject *shim_report_error(PyObject *self, PyObject *reason)
{
    long r = PyLong_AsLong(reason);
    if (r == -1 && PyErr_Occurred())
        PyErr_Clear();
    shim_error((int)r);
    Py_RETURN_NONE;
}

/* C API for native extensions (include/scope_shim.h) */
static void c_mark(const char *name, const char *payload, long len) { emit_mark(name, payload, len, 0); }
static void c_state(const char *name, const char *payload, long len) { emit_state(name, payload, len, 0); }
static void c_send(const char *channel, const char *msg) { emit_send(channel, msg); }
static void c_recv(const char *channel, const char *msg) { emit_recv(channel, msg); }
static uint64_t c_span_begin(const char *name, const char *payload, long len)
{
    if (!SHIM_ON(span_begin))
        return 0;
    uint64_t id = __atomic_add_fetch(&next_span, 1, __ATOMIC_RELAXED);
    emit_span_begin(id, 0, name, payload, len, 0);
    return id;
}
static void c_span_end(uint64_t id) { if (id) emit_span_end(id, 0); }
static int c_listening(void) { return SHIM_ON(mark) || SHIM_ON(span_begin) || SHIM_ON(state); }

static const ScopeShim_CAPI capi = {
    SCOPE_SHIM_CAPI_VERSION, c_listening, c_mark, c_state, c_span_begin, c_span_end, c_send, c_recv,
};

static PyMethodDef methods[] = {
    {"mark", (PyCFunction)(void (*)(void))shim_mark, METH_VARARGS | METH_KEYWORDS,
     "mark(name, **fields): a point event."},
    {"state", (PyCFunction)(void (*)(void))shim_state, METH_FASTCALL,
     "state(name, value): a snapshot of application state."},
    {"send", (PyCFunction)(void (*)(void))shim_send, METH_FASTCALL, "send(channel, msg_id)"},
    {"recv", (PyCFunction)(void (*)(void))shim_recv, METH_FASTCALL, "recv(channel, msg_id)"},
    {"_span_begin", (PyCFunction)(void (*)(void))shim_span_begin, METH_FASTCALL, NULL},
    {"_span_end", (PyCFunction)(void (*)(void))shim_span_end, METH_FASTCALL, NULL},
    {"_set_encoder", shim_set_encoder, METH_O, NULL},
    {"_listening", shim_listening, METH_NOARGS, NULL},
    {"_span_on", shim_span_on, METH_NOARGS, NULL},
    {"_tracing_requested", shim_tracing_requested, METH_NOARGS, NULL},
    {"_set_tracing", shim_set_tracing, METH_O, NULL},
    {"_report", shim_report, METH_O, NULL},
    {"_error_count", shim_error_count, METH_NOARGS, NULL},
    {"_error", shim_report_error, METH_O, NULL},
    {"_set_switch_thread", shim_set_switch_thread, METH_NOARGS, NULL},
    {"_ring_requested", shim_ring_requested, METH_NOARGS, NULL},
    {"_ring_start", shim_ring_start, METH_O, NULL},
    {"_ring_configured", shim_ring_configured, METH_NOARGS, NULL},
    {"_ring_paused", shim_ring_paused, METH_NOARGS, NULL},
    {"_new_epoch", shim_new_epoch, METH_NOARGS, NULL},
    {"_thread_hook", (PyCFunction)(void (*)(void))shim_thread_hook, METH_FASTCALL, NULL},
#if PY_VERSION_HEX >= 0x030C0000
    {"_on_start", (PyCFunction)(void (*)(void))shim_on_start, METH_FASTCALL, NULL},
    {"_on_resume", (PyCFunction)(void (*)(void))shim_on_resume, METH_FASTCALL, NULL},
    {"_on_throw", (PyCFunction)(void (*)(void))shim_on_throw, METH_FASTCALL, NULL},
    {"_on_return", (PyCFunction)(void (*)(void))shim_on_return, METH_FASTCALL, NULL},
    {"_on_yield", (PyCFunction)(void (*)(void))shim_on_yield, METH_FASTCALL, NULL},
    {"_on_unwind", (PyCFunction)(void (*)(void))shim_on_unwind, METH_FASTCALL, NULL},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "scope_shim._shim",
                                    "scope's in-process probes", -1, methods};

/* A token for this program: random, so that the programs a process runs one
 * after another (exec) are told apart; a forked child keeps its parent's. */
static void draw_image(void)
{
    if (getrandom(&shim_image, sizeof shim_image, GRND_NONBLOCK) != sizeof shim_image)
        shim_image = (uint32_t)(shim_now() ^ (shim_now() >> 32) ^ (uint32_t)getpid());
}

PyMODINIT_FUNC PyInit__shim(void)
{
    draw_image();
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (shim_install_audit_hook() < 0) {
        PyErr_Clear();   /* without it a takeover is noticed by the switch's next poll */
        shim_error(SCOPE_SHIM_E_AUDIT_HOOK);
    }
    /* the Python side's reason for a failed poll, from the one header that numbers them */
    if (PyModule_AddIntConstant(m, "E_SWITCH", SCOPE_SHIM_E_SWITCH) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyObject *cap = PyCapsule_New((void *)&capi, SCOPE_SHIM_CAPSULE, NULL);
    if (!cap || PyModule_AddObject(m, "_C_API", cap) < 0) {
        Py_XDECREF(cap);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
