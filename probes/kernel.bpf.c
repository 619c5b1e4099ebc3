/* Kernel context of the target, from tracepoints only (this kernel has no
 * kprobes): thread and process lifecycle (always), children followed across
 * fork (-DSCOPE_FOLLOW), off-CPU intervals (-DSCOPE_OFFCPU: scope --offcpu)
 * and system calls (-DSCOPE_SYSCALLS, -DSCOPE_SYSCALL_FILTER: scope
 * --syscalls [LIST]). Inlined into python_usdt.bpf.c by program.py. An
 * off-CPU reason comes from the task state at switch-out and the system call
 * the thread was in.
 */
/* targets: tgids to watch, filled by the collector (also used without --offcpu) */
BPF_HASH(targets, u32, u8, 1024);

/* the current task's process id if scope watches it, else 0 */
static __always_inline u32 watched(u64 pid_tgid)
{
    u32 tgid = pid_tgid >> 32;
    return targets.lookup(&tgid) ? tgid : 0;
}

static __always_inline int lifecycle(u16 kind, u32 tgid, u32 tid, s32 arg)
{
    return emit_flags(kind, 0, ((u64)tgid << 32) | tid, 0, 0, arg);
}

#ifdef SCOPE_FOLLOW
/* children stopped (SIGSTOP) on their first return to user space, before they
 * run an instruction, until the collector has attached their probes */
BPF_HASH(hold, u32, u8, 1024);
#endif

/* thread and process lifecycle of the targets: rare events, always recorded */
TRACEPOINT_PROBE(task, task_newtask)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tgid = watched(pid_tgid);
    if (!tgid)
        return 0;
    if (args->clone_flags & 0x10000)          /* CLONE_THREAD: tid new thread, arg its creator */
        return lifecycle(SCOPE_K_THREAD_START, tgid, (u32)args->pid, (s32)(u32)pid_tgid);
#ifdef SCOPE_FOLLOW
    u32 child = (u32)args->pid;
    u8 one = 1;
    targets.update(&child, &one);
    hold.update(&child, &one);
    /* woken at once: the child waits for the collector */
    if (emit_event(SCOPE_K_FORK, 0, pid_tgid, 0, 0, (s32)child, BPF_RB_FORCE_WAKEUP) != 0)
        hold.delete(&child);             /* nobody would let it go */
    return 0;
#else
    return lifecycle(SCOPE_K_FORK, tgid, (u32)pid_tgid, (s32)args->pid);
#endif
}

/* The program a process became: its path as exec was given it, sent as a name
 * (the event's code id names it). A short-lived child is often gone before the
 * collector reads /proc/PID/exe, so the kernel says it while it can. */
TRACEPOINT_PROBE(sched, sched_process_exec)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tgid = watched(pid_tgid);
    if (!tgid)
        return 0;
    u32 id = 0;
    struct scope_name *n = name_record(tgid, SCOPE_N_NAME, 0, 0);
    if (n) {
        id = n->id;
        unsigned short off = args->data_loc_filename & 0xFFFF;
        n->flags |= read_flag(bpf_probe_read_kernel_str(n->name, sizeof(n->name), (char *)args + off),
                              sizeof(n->name), 2);
        names.ringbuf_submit(n, 0);
    }
    return emit_flags(SCOPE_K_EXEC, 0, pid_tgid, id, 0, (s32)args->old_pid);
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tgid = watched(pid_tgid);
    if (!tgid)
        return 0;
#ifdef SCOPE_GROUP_DEAD
    int dead = args->group_dead;
#else
    /* kernels before the tracepoint had group_dead (Debian 12's 6.1): the main
     * thread's exit stands for the process's (other threads may end just after) */
    int dead = (u32)pid_tgid == tgid;
#endif
#ifdef SCOPE_FOLLOW
    if (dead)
        hold.delete(&tgid);
#endif
    return lifecycle(dead ? SCOPE_K_EXIT : SCOPE_K_THREAD_EXIT, tgid, (u32)pid_tgid, 0);
}

#if defined(SCOPE_OFFCPU) || defined(SCOPE_SYSCALLS) || defined(SCOPE_FOLLOW)
#define SCOPE_SYS_TRACEPOINTS
#endif

#ifdef SCOPE_OFFCPU
struct off_start {
    u64 ts;
    u32 tgid;
    u16 reason;
    u16 pad;
    s32 syscall;
};

BPF_HASH(in_syscall, u32, s32, 65536);          /* tid -> syscall it is in */
BPF_HASH(off_since, u32, struct off_start, 65536);
#endif

#ifdef SCOPE_SYSCALLS
struct sc_start {
    u64 ts;
    s64 nr;
};
BPF_HASH(sc_since, u32, struct sc_start, 65536);  /* tid -> the syscall it entered */
#ifdef SCOPE_SYSCALL_FILTER
BPF_HASH(syscall_filter, u32, u8, 512);           /* syscall numbers to record */
#endif
#endif

#ifdef SCOPE_SYS_TRACEPOINTS
TRACEPOINT_PROBE(raw_syscalls, sys_enter)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tgid = watched(pid_tgid);
    if (!tgid)
        return 0;
    u32 tid = (u32)pid_tgid;
#ifdef SCOPE_OFFCPU
    s32 id = (s32)args->id;
    in_syscall.update(&tid, &id);
#endif
#ifdef SCOPE_SYSCALLS
    u32 nr = (u32)args->id;
#ifdef SCOPE_SYSCALL_FILTER
    if (!syscall_filter.lookup(&nr))
        return 0;
#endif
    struct sc_start st = {.ts = bpf_ktime_get_ns(), .nr = args->id};
    sc_since.update(&tid, &st);
#endif
    return 0;
}

TRACEPOINT_PROBE(raw_syscalls, sys_exit)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tgid = watched(pid_tgid);
    if (!tgid)
        return 0;
    u32 tid = (u32)pid_tgid;
#ifdef SCOPE_FOLLOW
    /* a followed child's first return to user space (from fork/clone) */
    if (tid == tgid && hold.lookup(&tgid)) {
        hold.delete(&tgid);
        bpf_send_signal(19);   /* SIGSTOP: the collector attaches, then sends SIGCONT */
    }
#endif
#ifdef SCOPE_OFFCPU
    in_syscall.delete(&tid);
#endif
#ifdef SCOPE_SYSCALLS
    struct sc_start *st = sc_since.lookup(&tid);
    if (st) {
        u64 ns = bpf_ktime_get_ns() - st->ts;
        s64 ret = args->ret;
        u16 flags = 0;
        if (ns > 0x7fffffff) {
            ns /= 1000;
            flags |= SCOPE_F_USEC;
            if (ns > 0x7fffffff)
                ns = 0x7fffffff;
        }
        if (ret > 0x7fffffff || ret < -0x7fffffff) {
            ret = ret > 0 ? 0x7fffffff : -0x7fffffff;
            flags |= SCOPE_F_CLAMPED;
        }
        struct scope_event ev = {};
        ev.ts = st->ts;
        ev.pid = tgid;
        ev.tid = tid;
        ev.code = (u32)st->nr;
        ev.line = (s32)ret;
        ev.kind = SCOPE_K_SYSCALL;
        ev.flags = flags;
        ev.arg = (s32)ns;
        sc_since.delete(&tid);
        submit(&ev, BPF_RB_NO_WAKEUP);
    }
#endif
    return 0;
}
#endif

#ifdef SCOPE_OFFCPU

static __always_inline u16 off_reason(long state, s32 sc)
{
    if ((state & 3) == 0)
        return SCOPE_OFF_PREEMPTED;
    if (state & 2)
        return SCOPE_OFF_DISK;
    switch (sc) {
    case 35: case 230:                       /* nanosleep, clock_nanosleep */
        return SCOPE_OFF_SLEEP;
    case 202:                                /* futex */
        return SCOPE_OFF_LOCK;
    case 0: case 7: case 17: case 19: case 23: case 43: case 45: case 47:
    case 232: case 270: case 271: case 281: case 288: case 299: case 61:
        return SCOPE_OFF_IO;                 /* read, poll, pread, readv, select, accept, recv… */
    default:
        return SCOPE_OFF_WAIT;
    }
}

TRACEPOINT_PROBE(sched, sched_switch)
{
    u64 now = bpf_ktime_get_ns();
    /* the task leaving the CPU is the current one */
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tgid = pid_tgid >> 32;
    if (targets.lookup(&tgid)) {
        u32 tid = (u32)args->prev_pid;
        s32 *sc = in_syscall.lookup(&tid);
        struct off_start st = {};
        st.ts = now;
        st.tgid = tgid;
        st.syscall = sc ? *sc : -1;
        st.reason = off_reason(args->prev_state, st.syscall);
        off_since.update(&tid, &st);
    }
    u32 next = (u32)args->next_pid;
    struct off_start *st = off_since.lookup(&next);
    if (st) {
        struct scope_event ev = {};
        u64 us = (now - st->ts) / 1000;
        ev.ts = st->ts;
        ev.pid = st->tgid;
        ev.tid = next;
        ev.code = st->reason;
        ev.line = st->syscall;
        ev.kind = SCOPE_K_OFFCPU;
        ev.arg = us > 0x7fffffff ? 0x7fffffff : (s32)us;
        off_since.delete(&next);
        submit(&ev, BPF_RB_NO_WAKEUP);
    }
    return 0;
}

#endif
