# Part of hologram/_core.pyx (included): warp collectives (ISA 1.1 §12.4). A warp is 32 lanes
# of a block with consecutive linear index. A group reaching a collective waits (WARP_WAIT)
# until its warps are resolved: at once if every other lane of those warps is done (the usual
# case: a converged block), else by the scheduler when no lane of the block runs
# (resolve_warps, before any barrier). A warp resolves if all its live lanes wait at the same
# collective; they then read their operands (a lane whose read fails faults and does not
# take part) and run_collective (_vm_ops.pxi) computes every result before writing any.
# Otherwise its waiting lanes fault with WarpDivergence.

# hot: begin
cdef inline bint warps_complete(Ctx* c, Worker* w, const int32_t* g, int n) noexcept nogil:
    """1 if every lane of the warps the group touches is in the group or done (g ascending)."""
    cdef int i = 0, k
    cdef int64_t wb, we, lane
    if n == c.L:
        return 1
    while i < n:
        wb = g[i] - g[i] % WARP_SIZE
        we = wb + WARP_SIZE if wb + WARP_SIZE < c.L else c.L
        k = 0
        while i < n and g[i] < we:
            i += 1
            k += 1
        for lane in range(wb, we):
            k += w.state[lane] == DONE
        if k != we - wb:
            return 0
    return 1


cdef int finish_collective(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                           int64_t pc) noexcept nogil:
    """Run a resolved collective for the lanes g[0 .. n) (RUNNING, whole warps): read checks
    (a lane that fails faults and drops out), then the instruction. Returns the lanes left."""
    if ins[C_KREFILL]:
        refill_constant(c, w, ins)
    if ins[C_CHKW]:
        n = check_reads(c, w, ins[C_CHK0], ins[C_CHKW], g, n, pc)
    if n == 0:
        return 0
    if w.any_stale:
        fresh_rows(c, w, ins)
    run_collective(c, w, ins, g, n, pc, g[0] if g[n - 1] - g[0] == n - 1 else -1)
    return n


cdef int ctl_collective(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int* n,
                        int64_t* pc, int64_t* limit, int first) noexcept nogil:
    """A group reaches a warp collective: run it now if its warps are complete, else wait."""
    cdef int i, lane
    if warps_complete(c, w, g, n[0]):
        n[0] = finish_collective(c, w, ins, g, n[0], pc[0])
        pc[0] += 1
        return ACT_JUMP
    for i in range(n[0]):
        lane = g[i]
        w.state[lane] = WARP_WAIT
        w.pc[lane] = <int32_t>pc[0]
    return ACT_LEAVE


cdef bint resolve_warps(Ctx* c, Worker* w) noexcept nogil:
    """No lane of the block runs: resolve every warp some of whose lanes wait at a collective
    (ISA.md §12.4). Returns 1 if there was one (the scheduler then looks again)."""
    cdef int64_t L = c.L, wb, we, lane, k
    cdef int i, n, live, found = 0
    cdef int32_t p
    cdef bint same
    for k in range((L + WARP_SIZE - 1) / WARP_SIZE):
        wb = k * WARP_SIZE
        we = wb + WARP_SIZE if wb + WARP_SIZE < L else L
        n = 0
        live = 0
        same = True
        p = -1
        for lane in range(wb, we):
            live += w.state[lane] != DONE
            if w.state[lane] == WARP_WAIT:
                if n > 0 and w.pc[lane] != p:
                    same = False
                p = w.pc[lane]
                w.group[n] = <int32_t>lane
                n += 1
        if n == 0:
            continue
        found = 1
        if n != live or not same:
            for i in range(n):
                lane = w.group[i]
                fault(w, <int>lane, w.pc[lane], F_WARP_DIVERGENCE, k)
            continue
        for i in range(n):
            w.state[w.group[i]] = RUNNING
        n = finish_collective(c, w, c.code + p * NCOL, w.group, n, p)
        for i in range(n):
            w.pc[w.group[i]] = p + 1
    w.dirty = 0
    return found


cdef inline int warp_end(const int32_t* g, int n, int i) noexcept nogil:
    """The end of the run of g (from i) that lies in g[i]'s warp."""
    cdef int32_t we = g[i] - g[i] % WARP_SIZE + WARP_SIZE
    while i < n and g[i] < we:
        i += 1
    return i


cdef void exec_shfl(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n, int64_t pc,
                    int first) noexcept nogil:
    """rD <- rS of source warp lane j if j < 32 and lane j takes part, else the lane's own."""
    cdef int64_t L = c.L
    cdef int mode = <int>ins[C_TY2], i0 = 0, i1, k, lane, wl
    cdef uint64_t* d = w.regs + ins[C_DST] * L
    cdef const uint64_t* a = w.regs + ins[C_A] * L
    cdef const uint64_t* src_lane = w.regs + ins[C_B] * L     # u32: below 2^32
    cdef uint64_t vals[WARP_SIZE]
    cdef uint64_t have, j, s
    while i0 < n:
        i1 = warp_end(g, n, i0)
        have = 0
        for k in range(i0, i1):          # every operand is read before any result is written
            wl = g[k] % WARP_SIZE
            vals[wl] = a[g[k]]
            have |= (<uint64_t>1) << wl
        for k in range(i0, i1):
            lane = g[k]
            wl = lane % WARP_SIZE
            s = src_lane[lane]
            if mode == SH_IDX:
                j = s % WARP_SIZE
            elif mode == SH_UP:
                j = <uint64_t>wl - s if s <= <uint64_t>wl else WARP_SIZE
            elif mode == SH_DOWN:
                j = <uint64_t>wl + s
            else:
                j = <uint64_t>wl ^ s
            d[lane] = vals[j] if j < WARP_SIZE and (have >> j) & 1 else vals[wl]
        i0 = i1
    write_tags(dst_tags(c, w, ins), <uint8_t>(ins[C_TY] + 1), g, n, first)


cdef void exec_vote(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n, int64_t pc,
                    int first) noexcept nogil:
    """pD <- OR (any) or AND (all) of pS over the warp's participating lanes."""
    cdef int64_t L = c.L
    cdef uint8_t* pd = w.preds + ins[C_DST] * L
    cdef const uint8_t* ps = w.preds + ins[C_A] * L
    cdef int i0 = 0, i1, k, ntrue
    cdef uint8_t v
    while i0 < n:
        i1 = warp_end(g, n, i0)
        ntrue = 0
        for k in range(i0, i1):
            ntrue += ps[g[k]] == 2
        if ins[C_TY2] == VO_ANY:
            v = 2 if ntrue > 0 else 1
        else:
            v = 2 if ntrue == i1 - i0 else 1
        for k in range(i0, i1):
            pd[g[k]] = v
        i0 = i1


cdef void exec_ballot(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n, int64_t pc,
                      int first) noexcept nogil:
    """rD (u32) <- the mask of the warp's participating lanes whose pS is true."""
    cdef int64_t L = c.L
    cdef uint64_t* d = w.regs + ins[C_DST] * L
    cdef const uint8_t* ps = w.preds + ins[C_A] * L
    cdef int i0 = 0, i1, k
    cdef uint64_t mask
    while i0 < n:
        i1 = warp_end(g, n, i0)
        mask = 0
        for k in range(i0, i1):
            mask |= <uint64_t>(ps[g[k]] == 2) << (g[k] % WARP_SIZE)
        for k in range(i0, i1):
            d[g[k]] = mask
        i0 = i1
    write_tags(dst_tags(c, w, ins), T_U32 + 1, g, n, first)
# hot: end
