/* Records the eBPF programs send to the collector: the one definition of
 * their layout. scope/probes/layout.py reads the structs below to build the
 * decoder's dtypes, so keep to plain `__uN name;` / `char name[N];` fields.
 */
#ifndef SCOPE_EVENTS_H
#define SCOPE_EVENTS_H

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

/* name record kinds */
#define SCOPE_N_CODE 1   /* file + function of a code object */
#define SCOPE_N_NAME 2   /* a single string: module name, audit event */

/* drop reasons, indexes of the per-CPU `drops` array */
#define SCOPE_D_EVENTS_FULL 0   /* events ring buffer full: event lost */
#define SCOPE_D_NAMES_FULL  1   /* names ring buffer full: a name lost */
#define SCOPE_D_READ_FAIL   2   /* could not read a string from the target */
#define SCOPE_D_REASONS     3

/* fixed-size record, 32 bytes */
struct scope_event {
    __u64 ts;      /* CLOCK_MONOTONIC ns */
    __u32 pid;     /* process (tgid) */
    __u32 tid;     /* thread */
    __u32 code;    /* interned code / name id, 0 = none or unknown */
    __s32 line;
    __u16 kind;
    __u16 flags;
    __s32 arg;     /* kind-specific: gc generation, objects collected, import found */
};

/* name record: sent once per code object, once per import/audit name */
struct scope_name {
    __u32 id;
    __u32 pid;
    __u16 kind;
    __u16 flags;   /* bit 0: file truncated, bit 1: name truncated */
    __u32 pad;
    char file[SCOPE_FILE_MAX];
    char name[SCOPE_NAME_MAX];
};

#endif
