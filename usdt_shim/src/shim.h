/* Internal declarations shared by the shim's C files. */
#ifndef SCOPE_SHIM_INTERNAL_H
#define SCOPE_SHIM_INTERNAL_H
#include <Python.h>
#include <stdint.h>

extern unsigned long shim_errors;
extern unsigned long shim_switch_thread;   /* thread id of the switch's poller (never traced) */
extern long shim_switch_native;            /* its kernel thread id */
void shim_untrace_current(void);
const char *shim_utf8(PyObject *s);
int shim_install_audit_hook(void);
extern uint64_t shim_shadow_epoch;   /* bumped when a capture gap ends (--max-overhead) */
extern uint32_t shim_generation;   /* failures swallowed so the application never sees them */

int shim_foreign_profiler(void);
int shim_set_profile_all(int on);
PyObject *shim_thread_hook(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
#if PY_VERSION_HEX >= 0x030C0000
PyObject *shim_on_start(PyObject *, PyObject *const *, Py_ssize_t);
PyObject *shim_on_resume(PyObject *, PyObject *const *, Py_ssize_t);
PyObject *shim_on_throw(PyObject *, PyObject *const *, Py_ssize_t);
PyObject *shim_on_return(PyObject *, PyObject *const *, Py_ssize_t);
PyObject *shim_on_yield(PyObject *, PyObject *const *, Py_ssize_t);
PyObject *shim_on_unwind(PyObject *, PyObject *const *, Py_ssize_t);
#endif
#endif
