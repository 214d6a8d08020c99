# Part of hologram/_core.pyx (included): the group loop, the interpreter proper. run_group
# runs one group of lanes that share a pc: per instruction it counts steps, type-checks the
# reads, polls for Ctrl-C/timeout, follows register shapes, then exec_op (_vm_ops.pxi,
# generated from the table) runs the instruction. The control-flow instructions' handlers
# (ctl_*) are here: they change the pc, split the group or end it.

# hot: begin
cdef enum:   # what run_group does after exec_op
    ACT_NEXT = 0     # drop the lanes that faulted, go on at pc + 1
    ACT_JUMP = 1     # a control instruction set pc (and maybe n, limit): go on there
    ACT_LEAVE = 2    # the group ended, waits at a barrier or split off its lanes: return


cdef inline int check_reads(Ctx* c, Worker* w, int64_t k0, int64_t kn, int32_t* g, int n,
                            int64_t pc) noexcept nogil:
    """Type-check an instruction's reads (checks k0 .. k0+kn) in field order; fault lanes that
    fail. Returns the size of the compacted group."""
    cdef int64_t k, L = c.L
    cdef const int32_t* chk
    cdef int i, lane
    cdef uint8_t t
    for i in range(n):
        lane = g[i]
        for k in range(k0, k0 + kn):
            chk = c.checks + 4 * k
            if chk[0] == 1:
                if w.preds[chk[1] * L + lane] == 0:
                    fault(w, lane, pc, F_UNINIT_PRED, chk[1])
                    break
            else:
                t = w.tags[chk[1] * L + lane]
                if t != chk[2] + 1:
                    if t == 0:
                        fault(w, lane, pc, F_UNINIT_REG, chk[3])
                    else:
                        fault(w, lane, pc, F_TYPE_MISMATCH, chk[3], chk[2], t - 1)
                    break
    return compact(w, g, n) if w.dirty else n


cdef inline void leave_group(Worker* w, int32_t* g, int n, int64_t pc) noexcept nogil:
    cdef int i
    for i in range(n):
        w.pc[g[i]] = <int32_t>pc


cdef int poll(Ctx* c, Worker* w) noexcept nogil:
    """Called every POLL_LANE_STEPS lane-instructions: 1 if the launch must stop."""
    w.budget = POLL_LANE_STEPS
    if w.is_master and hg_now() >= w.next_signal_check:
        check_signals(c, w)
    return hg_atomic_load_int(&c.abort)


# gil: begin
cdef void check_signals(Ctx* c, Worker* w) noexcept nogil:
    """Master thread only: let Python run its signal handlers (Ctrl-C -> abort the launch)."""
    cdef double now = hg_now()
    w.next_signal_check = now + SIGNAL_INTERVAL
    if c.deadline > 0 and now >= c.deadline:       # timeout= of the launch
        c.timed_out = 1
        hg_atomic_store_int(&c.abort, 1)
    with gil:
        if PyErr_CheckSignals() != 0:
            PyErr_Clear()
            c.interrupted = 1
            hg_atomic_store_int(&c.abort, 1)
# gil: end


cdef inline int count_true(const uint8_t* pred, const int32_t* g, int n,
                           int first) noexcept nogil:
    """How many lanes of the group have the predicate true (2)."""
    cdef int i, k = 0
    if first >= 0:
        pred += first
        for i in range(n):
            k += pred[i] == 2
        return k
    for i in range(n):
        k += pred[g[i]] == 2
    return k


cdef inline int split_group(Worker* w, int32_t* g, int n, const uint8_t* pred, int64_t taken,
                            int64_t fallthrough, int64_t* pc, int64_t* limit) noexcept nogil:
    """A divergent branch: the lanes going to the lower pc stay in the group (which is then
    the block's lowest, as the scheduler would pick); the others wait at the higher pc, which
    becomes the group's limit (where it stops so they merge). Returns the group's size."""
    cdef int64_t lo = taken if taken < fallthrough else fallthrough
    cdef int64_t hi = taken + fallthrough - lo, dest
    cdef int i, m = 0, lane
    for i in range(n):
        lane = g[i]
        dest = taken if pred[lane] == 2 else fallthrough
        if dest == lo:
            g[m] = lane
            m += 1
        else:
            w.pc[lane] = <int32_t>hi
    pc[0] = lo
    if hi < limit[0]:
        limit[0] = hi
    return m


cdef void refill_constant(Ctx* c, Worker* w, const int64_t* ins) noexcept nogil:
    """Write the instruction's immediate to the shared constant row (C_KREFILL: the program
    has more immediates than constant rows) unless the row holds it already. The handlers of
    instructions that take an immediate call this first; the row never has a shape, so
    nothing before them (update_shape) reads it."""
    cdef uint64_t v = <uint64_t>ins[C_IMM]
    if w.kvalid and w.kval == v:
        return
    fill_u64(w.regs + ins[C_B] * c.L, v, c.L)
    w.kval = v
    w.kvalid = 1


# ---- control flow (ISA.md §6): handlers of the `control` family

cdef inline int ctl_bra(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int* n, int64_t* pc,
                        int64_t* limit, int first) noexcept nogil:
    """bra.pN (taken iff pN is true) and bra.!pN (C_TY2 = 1: taken iff pN is false)."""
    cdef int64_t target = ins[C_IMM]
    cdef const uint8_t* pred
    cdef int ntrue
    if ins[C_PRED] < 0:
        pc[0] = target
        return ACT_JUMP
    pred = w.preds + ins[C_PRED] * c.L
    ntrue = count_true(pred, g, n[0], first)
    if ntrue == n[0]:
        pc[0] = pc[0] + 1 if ins[C_TY2] else target
    elif ntrue == 0:
        pc[0] = target if ins[C_TY2] else pc[0] + 1
    elif ins[C_TY2]:          # lanes whose predicate is true fall through
        n[0] = split_group(w, g, n[0], pred, pc[0] + 1, target, pc, limit)
    else:
        n[0] = split_group(w, g, n[0], pred, target, pc[0] + 1, pc, limit)
    return ACT_JUMP


cdef inline int ctl_loop(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int* n, int64_t* pc,
                         int64_t* limit, int first) noexcept nogil:
    """Lanes whose counter is > 0 decrement it and go to the body; if the group disagrees,
    its lanes wait at their pcs for the scheduler."""
    cdef uint64_t* cnt = w.regs + ins[C_A] * c.L
    cdef int i, lane, ntaken = 0
    for i in range(n[0]):
        lane = g[i]
        if cnt[lane] > 0:
            cnt[lane] -= 1
            ntaken += 1
            w.pc[lane] = <int32_t>ins[C_IMM]
        else:
            w.pc[lane] = <int32_t>(pc[0] + 1)
    if ntaken == n[0]:
        pc[0] = ins[C_IMM]
    elif ntaken == 0:
        pc[0] += 1
    else:
        return ACT_LEAVE
    return ACT_JUMP


cdef inline int ctl_call(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int* n, int64_t* pc,
                         int64_t* limit, int first) noexcept nogil:
    cdef int i, lane
    for i in range(n[0]):
        lane = g[i]
        if w.csp[lane] >= CALL_DEPTH:
            fault(w, lane, pc[0], F_CALL_OVERFLOW)
        else:
            w.cstack[lane * CALL_DEPTH + w.csp[lane]] = <int32_t>(pc[0] + 1)
            w.csp[lane] += 1
    if w.dirty:
        n[0] = compact(w, g, n[0])
    pc[0] = ins[C_IMM]
    return ACT_JUMP


cdef inline int ctl_ret(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int* n, int64_t* pc,
                        int64_t* limit, int first) noexcept nogil:
    """Lanes returning to different pcs leave the group (the scheduler regroups them)."""
    cdef int64_t p = -1
    cdef int i, lane, differ = 0
    for i in range(n[0]):
        lane = g[i]
        if w.csp[lane] == 0:
            fault(w, lane, pc[0], F_CALL_UNDERFLOW)
            continue
        w.csp[lane] -= 1
        w.pc[lane] = w.cstack[lane * CALL_DEPTH + w.csp[lane]]
        if p < 0:
            p = w.pc[lane]
        elif p != w.pc[lane]:
            differ = 1
    if w.dirty:
        n[0] = compact(w, g, n[0])
    if differ:
        return ACT_LEAVE
    pc[0] = p
    return ACT_JUMP


cdef inline int ctl_exit(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int* n, int64_t* pc,
                         int64_t* limit, int first) noexcept nogil:
    cdef int i
    if first >= 0:
        memset(w.state + first, DONE, n[0])
    else:
        for i in range(n[0]):
            w.state[g[i]] = DONE
    return ACT_LEAVE


cdef inline int ctl_bar_sync(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int* n,
                             int64_t* pc, int64_t* limit, int first) noexcept nogil:
    """The lanes wait at the barrier; run_block releases them (ISA.md §6.3)."""
    cdef int i, lane
    for i in range(n[0]):
        lane = g[i]
        w.state[lane] = WAITING
        w.barid[lane] = <int32_t>ins[C_IMM]
        w.pc[lane] = <int32_t>pc[0]
    return ACT_LEAVE


cdef inline void exec_mem_fence(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                int64_t pc, int first) noexcept nogil:
    """Nothing to do: a block's lanes run on one thread, in program order (ISA.md §6.4)."""
    pass


# ---- the group loop

cdef int run_group(Ctx* c, Worker* w, int32_t* g, int n, int64_t pc, int64_t limit) noexcept nogil:
    """Run a group of lanes that share `pc` until it splits, merges, waits or ends.

    `limit` is the lowest pc of the block's other running lanes: at it the group stops so the
    scheduler can merge them. Returns 1 if the launch was aborted."""
    cdef const int64_t* ins
    cdef int64_t L = c.L
    cdef int op, i, lane, first, act
    while n > 0:
        if pc >= c.ncode:
            for i in range(n):
                w.state[g[i]] = DONE
            return 0
        if pc >= limit:
            leave_group(w, g, n, pc)
            return 0
        ins = c.code + pc * NCOL
        if c.has_max_steps:
            for i in range(n):
                lane = g[i]
                if w.steps[lane] >= c.max_steps:
                    fault(w, lane, pc, F_STEP_LIMIT, <int64_t>c.max_steps)
                else:
                    w.steps[lane] += 1
            if w.dirty:
                n = compact(w, g, n)
                if n == 0:
                    return 0
        if ins[C_CHKN]:
            n = check_reads(c, w, ins[C_CHK0], ins[C_CHKN], g, n, pc)
            if n == 0:
                return 0
        w.budget -= n
        if w.budget <= 0 and poll(c, w):
            return 1
        op = <int>ins[C_OP]
        if ins[C_WREG] >= 0 and update_shape(c, w, ins, n) and op_lazy(op):
            # a whole-block result known affine: its row is written when something reads it
            w.stale[ins[C_WREG]] = 1
            w.any_stale = 1
            if c.needs_tags:
                memset(w.tags + ins[C_WREG] * L, <int>ins[C_TY] + 1, L)
            pc += 1
            continue
        if w.any_stale and not op_own_rows(op):
            fresh_rows(c, w, ins)
        first = g[0] if g[n - 1] - g[0] == n - 1 else -1
        act = exec_op(c, w, ins, g, &n, &pc, &limit, first)
        if act == ACT_NEXT:
            if w.dirty:
                n = compact(w, g, n)
            pc += 1
        elif act == ACT_LEAVE:
            return 0
    return 0
# hot: end
