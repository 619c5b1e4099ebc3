/* The correlator's event loop in C: the same rules as collector/correlate.py
 * (the reference implementation; tests check the two agree on generated
 * streams), about a hundred times faster. Python keeps the interface.
 *
 *   c = Engine(adopt_roots, max_lines)   # max_lines: first_line's bound (collector/bounds.py)
 *   c.feed(ts, pid, tid, kind, code, line, flags, arg)   # int64 numpy arrays, equal length
 *   c.mark_loss(); c.finish()
 *   cols = c.columns()   # dict of int64 arrays (+ "status": int8 codes, see STATUS)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define K_CALL 1
#define K_RETURN 2
#define K_LOSS 23
#define F_RESUME 0x1
#define F_YIELD 0x2
#define F_RAISED 0x4
#define F_CORO 0x8
#define F_DERIVED 0x8000
#define NUL (-1)
/* completed top-level calls a thread keeps for adoption by a later start-unseen
 * return (correlate.py); past this the oldest half stay parentless */
#define MAX_ROOTS 4096

enum { S_OPEN, S_COMPLETE, S_START_UNSEEN, S_BROKEN, S_RAISED, S_ABANDONED };

typedef struct {
    int64_t row, call_id, start, slice_start, active, child;
    uint32_t code, gen;
    int exact;
    uint32_t task;      /* asyncio task (its root coroutine's generator id), 0: none */
} Frame;

typedef struct {
    uint64_t key;      /* pid << 32 | tid; 0 = empty slot */
    Frame *frames;
    size_t n, cap;
    int64_t *roots;
    size_t nroots, caproots;
} Thread;

typedef struct {
    uint64_t key;      /* pid << 32 | gen; 0 = empty, 1 = deleted */
    Frame frame;
} Suspended;

typedef struct { int64_t *v; size_t n, cap; } Col;

enum { C_CALL_ID, C_PARENT, C_DEPTH, C_PID, C_TID, C_CODE, C_START, C_END, C_SELF, C_EXC, C_TASK,
       C_DERIVED, NCOLS };
static const char *COLNAMES[NCOLS] = {"call_id", "parent_id", "depth", "pid", "tid", "code_id",
                                      "start_ns", "end_ns", "self_ns", "exc_id", "task", "derived"};
/* the `derived` column: which of the row's events it stands for (correlate.py) */
#define D_CALL 1
#define D_RETURN 2

typedef struct {
    PyObject_HEAD
    int adopt;
    Thread *threads;
    size_t tcap, tcount;
    Suspended *susp;
    size_t scap, scount;
    Col cols[NCOLS];
    int8_t *status;
    size_t nstatus, capstatus;
    int64_t next_id;
    PyObject *first_line;   /* dict (pid << 32 | code) -> line */
    uint64_t *lines;        /* the keys first_line holds (line_seen) */
    size_t lcap, lcount;
    size_t max_lines;       /* first_line holds at most this many code objects (collector/bounds.py) */
    int64_t lines_dropped;  /* call records whose code's first line was not kept: past max_lines */
} Engine;

#include "_correlate_tables.h"

/* a coroutine entered outside any task (by the event loop) starts one (correlate.py task_of) */
static uint32_t task_of(Thread *t, int64_t flags, int64_t gen)
{
    if (t->n && t->frames[t->n - 1].task)
        return t->frames[t->n - 1].task;
    return (gen && (flags & F_CORO)) ? (uint32_t)gen : 0;
}

static int new_row(Engine *e, int64_t pid, int64_t tid, int64_t code, int64_t start, int64_t depth,
                   int64_t parent, uint32_t task, int64_t *row, int64_t *call_id)
{
    int64_t id = e->next_id++;
    int64_t vals[NCOLS] = {id, parent, depth, pid, tid, code, start, NUL, NUL, 0, (int64_t)task, 0};
    size_t n = e->nstatus;     /* every column holds n rows: filled directly */
    for (int i = 0; i < NCOLS; i++) {
        if (grow((void **)&e->cols[i].v, &e->cols[i].cap, n + 1, sizeof(int64_t)) < 0)
            return -1;
        e->cols[i].v[n] = vals[i];
        e->cols[i].n = n + 1;
    }
    if (grow((void **)&e->status, &e->capstatus, n + 1, 1) < 0)
        return -1;
    e->status[e->nstatus++] = S_OPEN;
    *row = (int64_t)e->nstatus - 1;
    *call_id = id;
    return 0;
}

static void close_frame(Engine *e, Frame *f, int64_t end, int status)
{
    e->cols[C_END].v[f->row] = end;
    e->status[f->row] = (int8_t)status;
    if (end != NUL && f->exact && (status == S_COMPLETE || status == S_RAISED))
        e->cols[C_SELF].v[f->row] = f->active - f->child;
}

static int push(Thread *t, Frame *f)
{
    if (grow((void **)&t->frames, &t->cap, t->n + 1, sizeof(Frame)) < 0)
        return -1;
    t->frames[t->n++] = *f;
    return 0;
}

static Frame pop_slice(Thread *t, int64_t ts)
{
    Frame f = t->frames[--t->n];
    int64_t ran = f.slice_start != NUL ? ts - f.slice_start : NUL;
    if (ran == NUL)
        f.exact = 0;
    else
        f.active += ran;
    if (t->n) {
        if (ran == NUL)
            t->frames[t->n - 1].exact = 0;
        else
            t->frames[t->n - 1].child += ran;
    }
    return f;
}

static int finish_frame(Engine *e, Thread *t, int64_t pid, int64_t tid, int64_t ts, int64_t line,
                        int64_t flags, int64_t gen)
{
    Frame f = pop_slice(t, ts);
    if ((flags & F_YIELD) && gen)
        return susp_put(e, ((uint64_t)pid << 32) | (uint32_t)gen, &f);
    if (f.start == NUL) {
        e->cols[C_END].v[f.row] = ts;
        e->status[f.row] = (flags & F_RAISED) ? S_RAISED : S_START_UNSEEN;
    } else {
        close_frame(e, &f, ts, (flags & F_RAISED) ? S_RAISED : S_COMPLETE);
    }
    if (flags & F_RAISED)
        e->cols[C_EXC].v[f.row] = line & 0xFFFFFFFF;
    /* a return stands in its row only on the row's thread (a resumed frame may
     * have begun on another): the derived event takes the row's thread */
    if ((flags & F_DERIVED) && e->cols[C_TID].v[f.row] == tid)
        e->cols[C_DERIVED].v[f.row] |= D_RETURN;
    if (!t->n && e->adopt && f.start != NUL) {
        if (t->nroots == MAX_ROOTS) {    /* keep the newest half adoptable: memory stays bounded */
            memmove(t->roots, t->roots + MAX_ROOTS / 2, (MAX_ROOTS / 2) * sizeof(int64_t));
            t->nroots = MAX_ROOTS / 2;
        }
        if (grow((void **)&t->roots, &t->caproots, t->nroots + 1, sizeof(int64_t)) < 0)
            return -1;
        t->roots[t->nroots++] = f.row;
    }
    return 0;
}

static int on_call(Engine *e, Thread *t, int64_t pid, int64_t tid, int64_t code, int64_t ts,
                   int64_t line, int64_t flags, int64_t gen)
{
    int64_t row, id;
    if (gen) {
        uint64_t key = ((uint64_t)pid << 32) | (uint32_t)gen;
        Suspended *s = susp_find(e, key);
        Frame waiting;
        int have = 0;
        if (s) {
            waiting = s->frame;
            s->key = 1;     /* tombstone */
            have = 1;
        }
        if (flags & F_RESUME) {
            if (have) {
                waiting.slice_start = ts;
                return push(t, &waiting);
            }
            int64_t parent = t->n ? t->frames[t->n - 1].call_id : NUL;
            uint32_t task = task_of(t, flags, gen);
            if (new_row(e, pid, tid, code, NUL, (int64_t)t->n, parent, task, &row, &id) < 0)
                return -1;
            Frame f = {row, id, NUL, ts, 0, 0, (uint32_t)code, (uint32_t)gen, 0, task};
            return push(t, &f);
        }
        if (have)
            close_frame(e, &waiting, NUL, S_ABANDONED);
    }
    int64_t parent = t->n ? t->frames[t->n - 1].call_id : NUL;
    uint32_t task = task_of(t, flags, gen);
    if (new_row(e, pid, tid, code, ts, (int64_t)t->n, parent, task, &row, &id) < 0)
        return -1;
    if (flags & F_DERIVED)
        e->cols[C_DERIVED].v[row] = D_CALL;
    Frame f = {row, id, ts, ts, 0, 0, (uint32_t)code, (uint32_t)gen, 1, task};
    if (push(t, &f) < 0)
        return -1;
    /* code ids are per process (each process's shim numbers its own) */
    int seen = line_seen(e, ((uint64_t)pid << 32) | (uint32_t)code);
    if (seen == 2)
        e->lines_dropped++;
    if (seen)
        return seen < 0 ? (PyErr_NoMemory(), -1) : 0;
    PyObject *key = PyLong_FromLongLong((pid << 32) | (code & 0xffffffffLL));
    if (!key)
        return -1;
    int has = PyDict_Contains(e->first_line, key);
    if (has == 0) {
        PyObject *v = PyLong_FromLongLong(line);
        has = v ? PyDict_SetItem(e->first_line, key, v) : -1;
        Py_XDECREF(v);
    }
    Py_DECREF(key);
    return has < 0 ? -1 : 0;
}

static int on_return(Engine *e, Thread *t, int64_t pid, int64_t tid, int64_t code, int64_t ts,
                     int64_t line, int64_t flags, int64_t gen)
{
    if (t->n && t->frames[t->n - 1].code == (uint32_t)code)
        return finish_frame(e, t, pid, tid, ts, line, flags, gen);
    for (int64_t depth = (int64_t)t->n - 2; depth >= 0; depth--) {
        if (t->frames[depth].code == (uint32_t)code) {
            while ((int64_t)t->n > depth + 1) {
                Frame lost = pop_slice(t, ts);
                close_frame(e, &lost, NUL, S_BROKEN);
                t->frames[t->n - 1].exact = 0;
            }
            return finish_frame(e, t, pid, tid, ts, line, flags, gen);
        }
    }
    int64_t row, id;
    uint32_t task = task_of(t, flags, gen);
    if (flags & F_YIELD) {
        int64_t parent = t->n ? t->frames[t->n - 1].call_id : NUL;
        if (new_row(e, pid, tid, code, NUL, t->n ? (int64_t)t->n : NUL, parent, task, &row, &id) < 0)
            return -1;
        Frame f = {row, id, NUL, NUL, 0, 0, (uint32_t)code, (uint32_t)gen, 0, task};
        if (t->n)
            t->frames[t->n - 1].exact = 0;
        if (gen)
            return susp_put(e, ((uint64_t)pid << 32) | (uint32_t)gen, &f);
        return 0;
    }
    if (t->n) {
        Frame *parent = &t->frames[t->n - 1];
        if (new_row(e, pid, tid, code, NUL, (int64_t)t->n, parent->call_id, task, &row, &id) < 0)
            return -1;
        parent->exact = 0;
    } else {
        if (new_row(e, pid, tid, code, NUL, NUL, NUL, task, &row, &id) < 0)
            return -1;
        if (e->adopt) {
            for (size_t i = 0; i < t->nroots; i++)
                e->cols[C_PARENT].v[t->roots[i]] = id;
            t->nroots = 0;
        }
    }
    e->cols[C_END].v[row] = ts;
    if (flags & F_DERIVED)
        e->cols[C_DERIVED].v[row] = D_RETURN;
    if (flags & F_RAISED) {
        e->status[row] = S_RAISED;
        e->cols[C_EXC].v[row] = line & 0xFFFFFFFF;
    } else {
        e->status[row] = S_START_UNSEEN;
    }
    return 0;
}

static int get_array(PyObject *obj, Py_buffer *view, Py_ssize_t *n)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (view->itemsize != 8 || !view->format || (strcmp(view->format, "l") && strcmp(view->format, "q"))) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_TypeError, "feed() takes int64 arrays");
        return -1;
    }
    Py_ssize_t len = view->len / 8;
    if (*n >= 0 && len != *n) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "feed() arrays differ in length");
        return -1;
    }
    *n = len;
    return 0;
}

/* events of process pid (0: of every process) were lost: close its open frames as broken */
static void lose(Engine *e, int64_t pid)
{
    for (size_t i = 0; i < e->tcap; i++) {
        Thread *t = &e->threads[i];
        if (!t->key || (pid && (int64_t)(t->key >> 32) != pid))
            continue;
        while (t->n) {
            Frame f = t->frames[--t->n];
            close_frame(e, &f, NUL, S_BROKEN);
        }
        t->nroots = 0;
    }
}

static PyObject *engine_feed(Engine *e, PyObject *args)
{
    PyObject *objs[8];
    if (!PyArg_UnpackTuple(args, "feed", 8, 8, &objs[0], &objs[1], &objs[2], &objs[3], &objs[4],
                           &objs[5], &objs[6], &objs[7]))
        return NULL;
    Py_buffer views[8];
    Py_ssize_t n = -1;
    int got = 0;
    for (; got < 8; got++)
        if (get_array(objs[got], &views[got], &n) < 0)
            break;
    PyObject *result = NULL;
    if (got == 8) {
        const int64_t *ts = views[0].buf, *pid = views[1].buf, *tid = views[2].buf, *kind = views[3].buf,
                      *code = views[4].buf, *line = views[5].buf, *flags = views[6].buf, *arg = views[7].buf;
        int rc = 0;
        for (Py_ssize_t i = 0; i < n && rc == 0; i++) {
            if (kind[i] == K_LOSS) {     /* records were lost right here: pid 0 = any process */
                lose(e, pid[i]);
                continue;
            }
            if (kind[i] != K_CALL && kind[i] != K_RETURN)
                continue;
            Thread *t = thread_get(e, ((uint64_t)pid[i] << 32) | (uint32_t)tid[i]);
            if (!t) {
                rc = -1;
                break;
            }
            rc = kind[i] == K_CALL
                ? on_call(e, t, pid[i], tid[i], code[i], ts[i], line[i], flags[i], arg[i])
                : on_return(e, t, pid[i], tid[i], code[i], ts[i], line[i], flags[i], arg[i]);
        }
        if (rc == 0)
            result = Py_NewRef(Py_None);
        else if (!PyErr_Occurred())
            PyErr_NoMemory();
    }
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    return result;
}

static PyObject *engine_mark_loss(Engine *e, PyObject *unused)
{
    lose(e, 0);
    Py_RETURN_NONE;
}

static PyObject *engine_finish(Engine *e, PyObject *unused)
{
    for (size_t i = 0; i < e->tcap; i++) {
        e->threads[i].n = 0;
        e->threads[i].nroots = 0;
    }
    if (e->scap)
        memset(e->susp, 0, e->scap * sizeof(Suspended));
    e->scount = 0;
    Py_RETURN_NONE;
}

static PyObject *bytes_of(const void *p, size_t nbytes)
{
    return PyBytes_FromStringAndSize(nbytes ? p : "", (Py_ssize_t)nbytes);
}

/* columns() -> dict name -> bytes (int64 native; "status": int8 codes) */
static PyObject *engine_columns(Engine *e, PyObject *unused)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    for (int i = 0; i < NCOLS; i++) {
        PyObject *b = bytes_of(e->cols[i].v, e->cols[i].n * sizeof(int64_t));
        if (!b || PyDict_SetItemString(d, COLNAMES[i], b) < 0) {
            Py_XDECREF(b);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(b);
    }
    PyObject *s = bytes_of(e->status, e->nstatus);
    if (!s || PyDict_SetItemString(d, "status", s) < 0) {
        Py_XDECREF(s);
        Py_DECREF(d);
        return NULL;
    }
    Py_DECREF(s);
    return d;
}

/* top(pid, tid) -> call id running on that thread now, or -1 */
static PyObject *engine_top(Engine *e, PyObject *args)
{
    long long pid, tid;
    if (!PyArg_ParseTuple(args, "LL", &pid, &tid))
        return NULL;
    uint64_t key = ((uint64_t)pid << 32) | (uint32_t)tid;
    if (e->tcap) {
        size_t j = mix(key) & (e->tcap - 1);
        while (e->threads[j].key) {
            if (e->threads[j].key == key) {
                Thread *t = &e->threads[j];
                return PyLong_FromLongLong(t->n ? t->frames[t->n - 1].call_id : NUL);
            }
            j = (j + 1) & (e->tcap - 1);
        }
    }
    return PyLong_FromLong(NUL);
}

/* spell_calls(): the rows held stop standing for their call events (correlate.py) */
static PyObject *engine_spell_calls(Engine *e, PyObject *unused)
{
    for (size_t r = 0; r < e->cols[C_DERIVED].n; r++)
        e->cols[C_DERIVED].v[r] &= ~(int64_t)D_CALL;
    Py_RETURN_NONE;
}

static PyObject *engine_len(Engine *e, PyObject *unused)
{
    return PyLong_FromSize_t(e->nstatus);
}

/* call records whose code's first line was not kept (first_line was full) */
static PyObject *engine_lines_dropped(Engine *e, void *closure)
{
    return PyLong_FromLongLong(e->lines_dropped);
}

/* thread entries held (running or idle since the last drain) */
static PyObject *engine_threads(Engine *e, PyObject *unused)
{
    return PyLong_FromSize_t(e->tcount);
}

/* call ids handed out so far (the next one minus one) */
static PyObject *engine_issued(Engine *e, void *closure)
{
    return PyLong_FromLongLong(e->next_id - 1);
}

static int engine_init(Engine *e, PyObject *args, PyObject *kw)
{
    int adopt = 0;
    long long max_lines = 1LL << 62;
    if (!PyArg_ParseTuple(args, "|pL", &adopt, &max_lines))
        return -1;
    if (max_lines < 0) {
        PyErr_SetString(PyExc_ValueError, "max_lines must not be negative");
        return -1;
    }
    e->adopt = adopt;
    e->max_lines = (size_t)max_lines;
    e->next_id = 1;
    e->first_line = PyDict_New();
    return e->first_line ? 0 : -1;
}

static void engine_dealloc(Engine *e)
{
    for (size_t i = 0; i < e->tcap; i++) {
        free(e->threads[i].frames);
        free(e->threads[i].roots);
    }
    free(e->threads);
    free(e->susp);
    for (int i = 0; i < NCOLS; i++)
        free(e->cols[i].v);
    free(e->status);
    free(e->lines);
    Py_XDECREF(e->first_line);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

static PyObject *engine_first_line(Engine *e, void *closure)
{
    return Py_NewRef(e->first_line);
}

#include "_correlate_drain.h"

static PyMethodDef engine_methods[] = {
    {"feed", (PyCFunction)engine_feed, METH_VARARGS, "feed(ts, pid, tid, kind, code, line, flags, arg)"},
    {"mark_loss", (PyCFunction)engine_mark_loss, METH_NOARGS, NULL},
    {"finish", (PyCFunction)engine_finish, METH_NOARGS, NULL},
    {"columns", (PyCFunction)engine_columns, METH_NOARGS, NULL},
    {"drain", (PyCFunction)engine_drain, METH_VARARGS, "drain(everything=False) -> columns of final rows"},
    {"rows", (PyCFunction)engine_len, METH_NOARGS, NULL},
    {"threads", (PyCFunction)engine_threads, METH_NOARGS, "thread entries held"},
    {"spell_calls", (PyCFunction)engine_spell_calls, METH_NOARGS, "the rows held stop standing for their calls"},
    {"top", (PyCFunction)engine_top, METH_VARARGS, "top(pid, tid) -> running call id or -1"},
    {NULL},
};

static PyGetSetDef engine_getset[] = {
    {"first_line", (getter)engine_first_line, NULL, NULL, NULL},
    {"issued", (getter)engine_issued, NULL, NULL, NULL},
    {"lines_dropped", (getter)engine_lines_dropped, NULL, NULL, NULL},
    {NULL},
};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "scope.collector._correlate.Engine",
    .tp_basicsize = sizeof(Engine),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)engine_init,
    .tp_dealloc = (destructor)engine_dealloc,
    .tp_methods = engine_methods,
    .tp_getset = engine_getset,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "scope.collector._correlate",
                                    "the correlator's event loop", -1, NULL};

PyMODINIT_FUNC PyInit__correlate(void)
{
    if (PyType_Ready(&EngineType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddObjectRef(m, "Engine", (PyObject *)&EngineType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
