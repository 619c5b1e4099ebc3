/* Records sent to the collector, by the eBPF programs and by the shim's
 * shared-memory ring: the one definition of their layout (probes/ links here).
 * scope/probes/layout.py reads the structs below to build the decoder's
 * dtypes, so keep to plain `__uN name;` / `char name[N];` fields.
 */
#ifndef SCOPE_EVENTS_H
#define SCOPE_EVENTS_H

#if !defined(__KERNEL__) && !defined(__BPF__)
#include <linux/types.h>   /* __u64 and friends, as the kernel side has them */
#endif

#define SCOPE_FILE_MAX 256
#define SCOPE_NAME_MAX 128

/* event kinds (scope/kinds.py mirrors these values and names) */
#define SCOPE_K_CALL          1
#define SCOPE_K_RETURN        2
#define SCOPE_K_GC_START      3
#define SCOPE_K_GC_DONE       4
#define SCOPE_K_IMPORT_START  5
#define SCOPE_K_IMPORT_DONE   6
#define SCOPE_K_AUDIT         7
#define SCOPE_K_MARK          8
#define SCOPE_K_SPAN_BEGIN    9
#define SCOPE_K_SPAN_END     10
#define SCOPE_K_STATE        11
#define SCOPE_K_SEND         12
#define SCOPE_K_RECV         13
#define SCOPE_K_TRACING      14
#define SCOPE_K_RING         15   /* the shim announced its shared-memory ring */
#define SCOPE_K_OFFCPU       16   /* ts: switched out; arg: µs off CPU; code: reason; line: syscall */
#define SCOPE_K_THREAD_START 17   /* tid: the new thread; arg: the thread that created it */
#define SCOPE_K_THREAD_EXIT  18   /* tid: the thread that ended */
#define SCOPE_K_FORK         19   /* arg: the child process */
#define SCOPE_K_EXIT         20   /* the process ended (its last thread) */
#define SCOPE_K_EXEC         21   /* the process ran execve (a new program image) */
#define SCOPE_K_SYSCALL      22   /* ts: entered; code: syscall number; line: return value
                                     (clamped); arg: duration in ns (µs with SCOPE_F_USEC) */
#define SCOPE_K_LOSS         23   /* records were dropped just before this one (buffer full);
                                     pid: their process (0: any) */
#define SCOPE_K_LINE         24   /* a line began (python:line, opt-in): code: its function; line */
#define SCOPE_K_SHIM_ERROR   25   /* the shim swallowed a failure: arg: SCOPE_SHIM_E_*; line: the
                                     process's count of them so far */

/* why the shim swallowed a failure (arg of SCOPE_K_SHIM_ERROR): never raised into the program */
#define SCOPE_SHIM_E_NAME       1   /* a name or file path UTF-8 cannot hold (sent with \udcXX escapes) */
#define SCOPE_SHIM_E_PAYLOAD    2   /* the payload encoder failed (an empty payload was sent) */
#define SCOPE_SHIM_E_MESSAGE_ID 3   /* str() of a send/recv message id raised (not recorded) */
#define SCOPE_SHIM_E_PROFILE    4   /* setting or removing the profile function failed on a thread */
#define SCOPE_SHIM_E_CODE_CACHE 5   /* a code object's id could not be cached (co_extra) */
#define SCOPE_SHIM_E_AUDIT_HOOK 6   /* the audit hook could not be installed */
#define SCOPE_SHIM_E_SWITCH     7   /* the capture switch's poll raised (it polls again) */

/* off-CPU reasons (scope_event.code of SCOPE_K_OFFCPU events) */
#define SCOPE_OFF_PREEMPTED 1   /* runnable, another task got the CPU */
#define SCOPE_OFF_SLEEP     2   /* nanosleep, clock_nanosleep */
#define SCOPE_OFF_LOCK      3   /* futex: a lock, condition or the GIL */
#define SCOPE_OFF_IO        4   /* waiting for a file descriptor: read, poll, select, epoll, accept… */
#define SCOPE_OFF_DISK      5   /* uninterruptible: disk or other kernel I/O */
#define SCOPE_OFF_WAIT      6   /* interruptible, in another system call */

/* event flags (scope_event.flags, scope_app.flags), as the shim sets them */
#define SCOPE_F_RESUME     0x1    /* call: a generator/coroutine resumed, not a new call */
#define SCOPE_F_YIELD      0x2    /* return: suspended at a yield/await, not finished */
#define SCOPE_F_RAISED     0x4    /* return: ended by an exception (line = its type's name id) */
#define SCOPE_F_CORO       0x8    /* call/return of a coroutine (async def, async generator) */
#define SCOPE_F_TRUNCATED  0x10   /* payload cut at the size cap */
#define SCOPE_F_REDACTED   0x20   /* secret values replaced */
#define SCOPE_F_REPR       0x40   /* payload is repr(), not JSON */
#define SCOPE_F_KTRUNC     0x80   /* payload cut by the kernel's cap */
#define SCOPE_F_USEC       0x100  /* syscall: arg counts µs (the call took over 2 s) */
#define SCOPE_F_CLAMPED    0x200  /* syscall: the return value did not fit in 32 bits */
#define SCOPE_F_CREATED    0x400  /* return (set by scope's probe, not the shim): a generator
                                     function's frame that only created its generator */
#define SCOPE_F_DERIVED    0x8000 /* set by the collector on a ring's plain call/return after its
                                     checks, never by the shim: its calls row stands for it */
#define SCOPE_F_DERIVED    0x8000 /* set by the collector on a ring's plain call/return after its
                                     checks, never by the shim: its calls row stands for it */

/* tracing events (SCOPE_K_TRACING): the state the shim reports in `ref` */
#define SCOPE_TRACING_REFUSED (-1)  /* another profiler holds the hook */
#define SCOPE_TRACING_OFF      0
#define SCOPE_TRACING_ON       1
#define SCOPE_TRACING_SWITCH   2    /* the switch thread started (`parent`: its thread id) */
#define SCOPE_TRACING_FORKED   3    /* a forked child's check (not a change of state) */
#define SCOPE_TRACING_PAUSED   4    /* --max-overhead paused capture */
#define SCOPE_TRACING_RESUMED  5

/* name record kinds */
#define SCOPE_N_CODE 1   /* file + function of a code object */
#define SCOPE_N_NAME 2   /* a single string: module name, audit event */

/* drop reasons, indexes of the per-CPU `drops` array */
#define SCOPE_D_EVENTS_FULL 0   /* events ring buffer full: event lost */
#define SCOPE_D_NAMES_FULL  1   /* names ring buffer full: a name lost */
#define SCOPE_D_READ_FAIL   2   /* could not read a string from the target */
#define SCOPE_D_APP_FULL    3   /* app ring buffer full: mark/span/state/message lost */
#define SCOPE_D_REASONS     4

#define SCOPE_APPNAME_MAX 128
#define SCOPE_PAYLOAD_MAX 16384

/* fixed-size record, 32 bytes */
struct scope_event {
    __u64 ts;      /* CLOCK_MONOTONIC ns */
    __u32 pid;     /* process (tgid) */
    __u32 tid;     /* thread */
    __u32 code;    /* interned code / name id, 0 = none or unknown */
    __s32 line;
    __u16 kind;
    __u16 flags;
    __s32 arg;     /* kind-specific: gc generation, objects collected, import found,
                      generator id (shim call/return) */
};

/* The shim's shared-memory ring (a memfd the collector maps): this header in
 * the first page, then `capacity` struct scope_event records. One producer at
 * a time (the thread holding the GIL) publishes with a release store of head;
 * the collector consumes up to head and publishes tail. */
#define SCOPE_RING_MAGIC 0x31474e4952504f43ULL   /* "COPRING1" */
#define SCOPE_RING_HEADER 4096
#define SCOPE_FILTERS_MAX 2048

struct scope_ring {
    __u64 magic;
    __u32 version;
    __u32 record_size;
    __u64 capacity;   /* records, a power of two */
    __u64 pid;
    __u64 min_ns;     /* set by the collector: write only calls at least this long (0: all) */
    __u64 configured; /* set by the collector once it has mapped the ring and set min_ns */
    __u64 gov_start_ns;  /* --max-overhead, set by the collector: capture is on while */
    __u64 gov_on_ns;     /* (now - gov_start_ns) % gov_cycle_ns < gov_on_ns; */
    __u64 head;       /* written by the producer: records published */
    __u64 gov_cycle_ns;  /* 0: always on. The shim's switch applies it every 20 ms */
    __u64 pad1[6];
    __u64 tail;       /* written by the collector: records consumed */
    __u64 pad2[7];
    __u64 dropped;    /* records the producer could not write (ring full) */
    /* set by the collector before `configured`: function-name globs, each
     * "+glob" (keep only matching) or "-glob" (drop matching), NUL-separated,
     * an empty string ends the list */
    char filters[SCOPE_FILTERS_MAX];
};

/* ids the collector gives the same-named functions it tells apart on the
 * marker path (collector/identity.py): below the shim's; the kernel's own ids
 * ((n << 8) | cpu, n at most a few hundred thousand) stay far below both */
#define SCOPE_SPLIT_ID_BASE 0xD0000000u
/* ids the shim gives code objects (kept in co_extra) and exception types */
#define SCOPE_SHIM_ID_BASE 0xE0000000u
/* the collector moves the shim ids of a process's k-th program (after k execs
 * of the interpreter) up by k * SCOPE_SHIM_ID_IMAGE, so they never collide;
 * the programs' spaces end where the app-event names' begin (16 programs) */
#define SCOPE_SHIM_ID_IMAGE 0x01000000u
/* ids the collector gives app-event names (marks, spans, states: per process) */
#define SCOPE_APP_NAME_BASE 0xF0000000u

/* application event from the shim (variable size: the header, then `len` bytes of data) */
struct scope_app {
    __u64 ts;
    __u32 pid;
    __u32 tid;
    __u16 kind;
    __u16 flags;
    __u32 len;      /* bytes of data that follow */
    /* ref, parent and task mean what the kind says (collector/app.py decodes
       each kind's into named fields: TracingChange, RingAnnouncement):
         SPAN_BEGIN/END  ref = span id       parent = parent span id   task = asyncio task id
         MARK/STATE/SEND/RECV  ref, parent = -                       task = asyncio task id
         TRACING         ref = tracing state (SCOPE_TRACING_*)  parent = the switch thread's tid
         RING            ref = the ring's fd in the target  parent = its size in bytes
                         task = the program's token (a fresh one per exec) */
    __u64 ref;
    __u64 parent;
    __u64 task;
    char name[SCOPE_APPNAME_MAX];   /* mark/state/span name, message channel */
    char data[SCOPE_PAYLOAD_MAX];   /* JSON fields / state value / message id */
};

/* name record: sent once per code object, and once per distinct import/audit name (interned by text) */
struct scope_name {
    __u32 id;
    __u32 pid;
    __u16 kind;
    __u16 flags;   /* bit 0: file truncated, bit 1: name truncated */
    __u32 image;   /* the shim's program token (shim names; else 0): a process that execs runs
                      a new program, whose shim numbers its code objects afresh */
    char file[SCOPE_FILE_MAX];
    char name[SCOPE_NAME_MAX];
};

#endif
